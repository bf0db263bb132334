package gateway

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func hv(k, v string, appendFlag *bool, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	o := &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: action}
	if appendFlag != nil {
		o.Append = wrapperspb.Bool(*appendFlag)
	}
	return o
}

func metadata(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOKResponseApplied: how Envoy applies an OK CheckResponse (docs/envoy.md,
// "Allowing: the OK response").
func TestOKResponseApplied(t *testing.T) {
	var md *structpb.Struct
	r := newRig(t, Options{}, func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{
			Status:          &rpcstatus.Status{Code: int32(codes.OK)},
			DynamicMetadata: md,
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers: []*corev3.HeaderValueOption{
					hv("x-bot-score", "87", boolp(false), 0),                                             // set
					hv("x-set-unset-append", "v", nil, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD), // append unset: set; append_action ignored
					hv("x-existing", "added", boolp(true), 0),                                            // append to an existing header: joined
					hv("x-missing", "never", boolp(true), 0),                                             // append to a missing header: nothing
					{Header: &corev3.HeaderValue{Key: "x-raw", RawValue: []byte("raw")}},                 // raw_value ignored: empty value
				},
				HeadersToRemove: []string{"x-remove-me", ":path", "host"},
				ResponseHeadersToAdd: []*corev3.HeaderValueOption{
					hv("set-cookie", "__bw=tok; Path=/", nil, 0),                                         // unset action = APPEND: a second set-cookie
					hv("x-served-by", "authz", nil, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD), // overwrite the origin's
					hv("content-type", "text/never", nil, corev3.HeaderValueOption_ADD_IF_ABSENT),        // present: untouched
					hv("x-absent", "never", nil, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS),           // absent: untouched
					hv("x-deprecated-append", "1", boolp(false), corev3.HeaderValueOption_ADD_IF_ABSENT), // append set wins: overwrite/add
				},
				QueryParametersToSet:    []*corev3.QueryParameter{{Key: "b", Value: "20"}, {Key: "new", Value: "1"}},
				QueryParametersToRemove: []string{"drop"},
			}},
		}, nil
	})
	md = metadata(t, map[string]any{"BotScore": 87.0, "BotAction": "allow"})

	resp, body := r.do(t, "GET", "/p?drop=1&b=2&a=1", "X-Existing", "orig", "X-Remove-Me", "1", "X-Bot-Score", "1", "X-Set-Unset-Append", "client")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	e := origin(t, body)
	for name, want := range map[string]string{
		"x-bot-score": "87", "x-set-unset-append": "v", "x-existing": "orig,added", "x-raw": "",
	} {
		if got := e.header(name); got != want {
			t.Errorf("upstream %s = %q, want %q", name, got, want)
		}
	}
	for _, gone := range []string{"x-missing", "x-remove-me"} {
		if e.has(gone) {
			t.Errorf("upstream has %s", gone)
		}
	}
	if e.URI != "/p?a=1&b=20&new=1" {
		t.Errorf("upstream URI %q, want the query rewritten (sorted, b set, drop removed)", e.URI)
	}
	if e.Host == "" {
		t.Error("host was removed")
	}
	if got := resp.Header.Values("Set-Cookie"); !reflect.DeepEqual(got, []string{"origin=1", "__bw=tok; Path=/"}) {
		t.Errorf("set-cookie = %q", got)
	}
	if got := resp.Header.Values("X-Served-By"); !reflect.DeepEqual(got, []string{"authz"}) {
		t.Errorf("x-served-by = %q", got)
	}
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Absent") != "" {
		t.Errorf("content-type %q, x-absent %q", resp.Header.Get("Content-Type"), resp.Header.Get("X-Absent"))
	}
	if resp.Header.Get("X-Deprecated-Append") != "1" {
		t.Error("append=false must overwrite/add whatever append_action says")
	}

	// Dynamic metadata reaches the access log, with ext_authz_duration.
	entry := r.tap.WaitFor(r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"], 5*time.Second)
	got := entry.GetCommonProperties().GetMetadata().GetFilterMetadata()[MetadataNamespace].GetFields()
	if got["BotScore"].GetNumberValue() != 87 || got["BotAction"].GetStringValue() != "allow" {
		t.Errorf("metadata = %v", got)
	}
	if _, ok := got["ext_authz_duration"]; !ok {
		t.Error("ext_authz_duration missing on OK with metadata")
	}
	if entry.GetResponse().GetResponseCode().GetValue() != 200 || entry.GetResponse().GetResponseCodeDetails() != "via_upstream" {
		t.Errorf("response %v", entry.GetResponse())
	}
	if entry.GetCommonProperties().GetUpstreamCluster() != "origin" || entry.GetCommonProperties().GetRouteName() != "origin" {
		t.Errorf("cluster/route = %s/%s", entry.GetCommonProperties().GetUpstreamCluster(), entry.GetCommonProperties().GetRouteName())
	}
}

// TestDeniedResponseApplied: the Denied path.
func TestDeniedResponseApplied(t *testing.T) {
	cases := []struct {
		name   string
		denied *authv3.DeniedHttpResponse
		status int
	}{
		{"status unset means 403", &authv3.DeniedHttpResponse{Body: "blocked"}, 403},
		{"no denied_response at all", nil, 403},
		{"rate limited", &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests}, Body: "slow down",
			Headers: []*corev3.HeaderValueOption{hv("retry-after", "7", boolp(false), 0)}}, 429},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, Options{}, func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
				resp := &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)}}
				if c.denied != nil {
					resp.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: c.denied}
				}
				return resp, nil
			})
			resp, body := r.do(t, "GET", "/")
			if resp.StatusCode != c.status || body != c.denied.GetBody() {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, c.status, c.denied.GetBody())
			}
			if c.status == 429 && resp.Header.Get("Retry-After") != "7" {
				t.Error("retry-after missing")
			}
		})
	}

	t.Run("headers", func(t *testing.T) {
		r := newRig(t, Options{}, func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return &authv3.CheckResponse{
				Status:          &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
				DynamicMetadata: metadata(t, map[string]any{"BotAction": "block"}),
				HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
					Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
					Body:   "<html>blocked</html>",
					Headers: []*corev3.HeaderValueOption{
						hv("content-type", "text/html; charset=utf-8", nil, 0), // replaces the local reply's text/plain
						hv("set-cookie", "a=1", boolp(false), 0),
						hv("set-cookie", "b=2", boolp(false), 0), // repeats are kept
						hv("x-dropped", "1", boolp(true), 0),     // append=true is dropped on a deny
					},
				}},
			}, nil
		})
		resp, body := r.do(t, "GET", "/")
		if resp.StatusCode != 403 || body != "<html>blocked</html>" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if got := resp.Header.Values("Set-Cookie"); !reflect.DeepEqual(got, []string{"a=1", "b=2"}) {
			t.Errorf("set-cookie = %q", got)
		}
		if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("X-Dropped") != "" {
			t.Errorf("content-type %q x-dropped %q", resp.Header.Get("Content-Type"), resp.Header.Get("X-Dropped"))
		}
		if resp.Header.Get("Server") != "envoy" {
			t.Errorf("server = %q", resp.Header.Get("Server"))
		}
		e := r.tap.WaitFor(r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"], 5*time.Second)
		cp := e.GetCommonProperties()
		if cp.GetResponseFlags().GetUnauthorizedDetails().GetReason().String() != "EXTERNAL_SERVICE" {
			t.Errorf("response flags %v, want UAEX", cp.GetResponseFlags())
		}
		if e.GetResponse().GetResponseCodeDetails() != "ext_authz_denied" {
			t.Errorf("details %q", e.GetResponse().GetResponseCodeDetails())
		}
		fields := cp.GetMetadata().GetFilterMetadata()[MetadataNamespace].GetFields()
		if fields["BotAction"].GetStringValue() != "block" {
			t.Errorf("metadata on deny = %v", fields)
		}
		if _, ok := fields["ext_authz_duration"]; ok {
			t.Error("ext_authz_duration is only added on OK")
		}
		if cp.GetUpstreamCluster() != "" {
			t.Error("a denied request must not reach a cluster")
		}
	})
}

// TestErrorPath: failure_mode_allow on and off, for each way the check can
// fail.
func TestErrorPath(t *testing.T) {
	failures := map[string]func(*authzDouble){
		"gRPC error from the handler": func(d *authzDouble) {
			d.respond = func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
				return nil, status.Error(codes.Internal, "boom")
			}
		},
		"timeout": func(d *authzDouble) { d.delay = 2 * time.Second },
		"error_response": func(d *authzDouble) {
			d.respond = func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
				return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.Unavailable)},
					HttpResponse: &authv3.CheckResponse_ErrorResponse{ErrorResponse: &authv3.DeniedHttpResponse{Body: "degraded"}}}, nil
			}
		},
	}
	for name, fail := range failures {
		for _, allowOnError := range []bool{true, false} {
			t.Run(name+"/failure_mode_allow="+map[bool]string{true: "true", false: "false"}[allowOnError], func(t *testing.T) {
				r := newRig(t, Options{FailureModeAllow: boolp(allowOnError), AuthzTimeout: 100 * time.Millisecond}, nil)
				r.authz.mu.Lock()
				fail(r.authz)
				r.authz.mu.Unlock()
				resp, body := r.do(t, "GET", "/", "X-Envoy-Auth-Failure-Mode-Allowed", "spoofed-but-internal")
				if allowOnError {
					if resp.StatusCode != 200 {
						t.Fatalf("status %d, want the request let through", resp.StatusCode)
					}
					if got := origin(t, body).header(HeaderFailureModeAllowed); got != "spoofed-but-internal,true" {
						t.Errorf("%s = %q", HeaderFailureModeAllowed, got)
					}
					return
				}
				want, wantBody := 503, "" // status_on_error from envoy-http.yaml
				if name == "error_response" {
					wantBody = "degraded"
				}
				if resp.StatusCode != want || body != wantBody {
					t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, want, wantBody)
				}
			})
		}
	}

	t.Run("botwarden down", func(t *testing.T) {
		lisAddr := "127.0.0.1:1" // nothing listens on port 1
		for _, allowOnError := range []bool{true, false} {
			r := newRig(t, Options{FailureModeAllow: boolp(allowOnError), Clusters: map[string]string{"botwarden_authz": lisAddr}}, nil)
			resp, _ := r.do(t, "GET", "/")
			if allowOnError && resp.StatusCode != 200 || !allowOnError && resp.StatusCode != 503 {
				t.Errorf("failure_mode_allow=%v: status %d", allowOnError, resp.StatusCode)
			}
		}
	})

	t.Run("status_on_error override", func(t *testing.T) {
		r := newRig(t, Options{FailureModeAllow: boolp(false), StatusOnError: 502, Clusters: map[string]string{"botwarden_authz": "127.0.0.1:1"}}, nil)
		if resp, _ := r.do(t, "GET", "/"); resp.StatusCode != 502 {
			t.Errorf("status %d, want 502", resp.StatusCode)
		}
	})
}

func TestValidateMutations(t *testing.T) {
	r := newRig(t, Options{}, func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers: []*corev3.HeaderValueOption{hv("x-bad", "a\r\nInjected: 1", boolp(false), 0)},
			}}}, nil
	})
	if resp, _ := r.do(t, "GET", "/"); resp.StatusCode != 500 {
		t.Errorf("status %d, want 500 for an invalid mutation with validate_mutations", resp.StatusCode)
	}
}

func TestNoRouteSkipsTheCheck(t *testing.T) {
	r := newRig(t, Options{Config: "testdata/no-catch-all.yaml"}, nil)
	resp, _ := r.do(t, "GET", "/elsewhere")
	if resp.StatusCode != 404 {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
	if n := len(r.authz.requests()); n != 0 {
		t.Errorf("%d checks for a request matching no route", n)
	}
	if resp, _ := r.do(t, "GET", "/app/x"); resp.StatusCode != 200 || len(r.authz.requests()) != 1 {
		t.Errorf("routed request: status %d, %d checks", resp.StatusCode, len(r.authz.requests()))
	}
}
