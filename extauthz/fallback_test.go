package extauthz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/botwarden/botwarden/detect"
)

// nameless is an engine that panics before it is even evaluated (its name
// is asked for first, to label its errors).
type nameless struct{ detect.Engine }

func (nameless) Name() string { panic("no name") }

// TestFallbackActionOnEveryPath: whatever breaks inside a check, the answer
// is the pipeline's safe verdict, so detection.fallback_action decides it —
// block means fail closed, on gRPC and HTTP alike.
func TestFallbackActionOnEveryPath(t *testing.T) {
	breakages := []struct {
		name    string
		engines []detect.Engine
	}{
		{"nil engine", []detect.Engine{nil}},
		{"engine name panics", []detect.Engine{nameless{}}},
	}
	for _, b := range breakages {
		for _, fallback := range []detect.Action{detect.ActionAllow, detect.ActionBlock} {
			t.Run(b.name+"/"+string(fallback), func(t *testing.T) {
				p := &detect.Pipeline{Engines: b.engines, Decider: testDecider{}, Fallback: fallback}
				s := newTestServer(t, p, Options{})
				wantCode, wantHTTP := codes.OK, http.StatusOK
				if fallback == detect.ActionBlock {
					wantCode, wantHTTP = codes.PermissionDenied, http.StatusForbidden
				}
				resp, err := dialGRPC(t, s).Check(context.Background(), checkRequest("/", chromeUA, nil))
				if err != nil {
					t.Fatalf("gRPC error for a decision: %v", err)
				}
				if got := codes.Code(resp.GetStatus().GetCode()); got != wantCode {
					t.Fatalf("gRPC: status %v, want %v (fallback_action %s)", got, wantCode, fallback)
				}
				if tags := resp.GetDynamicMetadata().GetFields()[detect.FieldBotTags].GetListValue().GetValues(); len(tags) != 1 || tags[0].GetStringValue() != "internal-error" {
					t.Fatalf("gRPC: tags %v, want internal-error", tags)
				}
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", DefaultConfig().HTTP.Prefix+"/envoy/", nil)
				req.Header.Set("user-agent", chromeUA)
				s.HTTPHandler().ServeHTTP(rec, req)
				if rec.Code != wantHTTP {
					t.Fatalf("HTTP: status %d, want %d (fallback_action %s)", rec.Code, wantHTTP, fallback)
				}
			})
		}
	}
	// A nil request (only an in-process caller can send one) is not judged
	// either: the safe verdict answers it.
	s := newTestServer(t, &detect.Pipeline{Fallback: detect.ActionBlock}, Options{})
	resp, err := s.Check(context.Background(), nil)
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.PermissionDenied {
		t.Fatalf("nil request with fallback_action block: %v %v", resp, err)
	}
}
