package extauthz

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/internal/metricstest"
)

// headerMap flattens HeaderValueOptions, failing on anything Envoy would
// not apply as "set": append=true, a missing Append, or raw_value.
func headerMap(t *testing.T, opts []*corev3.HeaderValueOption) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for _, o := range opts {
		if o.GetAppend() == nil || o.GetAppend().GetValue() {
			t.Errorf("header %s: Append must be set to false, got %v", o.GetHeader().GetKey(), o.GetAppend())
		}
		if len(o.GetHeader().GetRawValue()) > 0 {
			t.Errorf("header %s uses raw_value, which Envoy ignores", o.GetHeader().GetKey())
		}
		if k := o.GetHeader().GetKey(); k != strings.ToLower(k) {
			t.Errorf("header %s is not lower-case", k)
		}
		m[o.GetHeader().GetKey()] = append(m[o.GetHeader().GetKey()], o.GetHeader().GetValue())
	}
	return m
}

func checkMetadata(t *testing.T, md *structpb.Struct, score int, action, enforced string) {
	t.Helper()
	f := md.GetFields()
	for _, name := range []string{
		detect.FieldBotScore, detect.FieldBotScoreSrc, detect.FieldBotTags, detect.FieldBotDetectionIDs,
		detect.FieldBotCategory, detect.FieldJA4, detect.FieldJSDetectionPassed, detect.FieldVerifiedBot,
		detect.FieldVerifiedBotCategory, detect.FieldAction, detect.FieldEnforcedAction, detect.FieldRuleID,
		detect.FieldMode, detect.FieldClientIP,
	} {
		if _, ok := f[name]; !ok {
			t.Errorf("metadata lacks %s", name)
		}
	}
	if got := int(f[detect.FieldBotScore].GetNumberValue()); got != score {
		t.Errorf("BotScore = %d, want %d", got, score)
	}
	if got := f[detect.FieldAction].GetStringValue(); got != action {
		t.Errorf("BotAction = %s, want %s", got, action)
	}
	if got := f[detect.FieldEnforcedAction].GetStringValue(); got != enforced {
		t.Errorf("BotEnforcedAction = %s, want %s", got, enforced)
	}
}

func TestCheckAllowInjectsAndStrips(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := dialGRPC(t, newTestServer(t, testPipeline(), Options{Registerer: reg}))
	req := checkRequest("/", chromeUA, map[string]string{
		"x-bot-score":     "99",                                   // spoofed: overwritten by ours, so not in headers_to_remove
		"x-bot-foo":       "1",                                    // spoofed, not ours: removed
		"x-botwarden-bar": "1",                                    // spoofed: removed
		"x-botwarden-ja4": "t13d1516h2_8daaf6152771_02713d6af862", // set by Envoy: kept
	})
	resp, err := c.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("status %v", resp.GetStatus())
	}
	ok := resp.GetOkResponse()
	h := headerMap(t, ok.GetHeaders())
	want := map[string]string{
		detect.HeaderScore: "80", detect.HeaderScoreSrc: "machine_learning", detect.HeaderCategory: "likely_human",
		detect.HeaderVerified: "false", detect.HeaderAction: "allow", detect.HeaderRule: "default",
	}
	for k, v := range want {
		if !slices.Equal(h[k], []string{v}) {
			t.Errorf("%s = %v, want %s", k, h[k], v)
		}
	}
	rm := ok.GetHeadersToRemove()
	slices.Sort(rm)
	if !slices.Equal(rm, []string{"x-bot-foo", "x-botwarden-bar"}) {
		t.Errorf("headers_to_remove = %v", rm)
	}
	if len(ok.GetResponseHeadersToAdd()) != 0 {
		t.Errorf("unexpected response headers %v", ok.GetResponseHeadersToAdd())
	}
	checkMetadata(t, resp.GetDynamicMetadata(), 80, "allow", "allow")
	if got := resp.GetDynamicMetadata().GetFields()[detect.FieldJA4].GetStringValue(); got != "t13d1516h2_8daaf6152771_02713d6af862" {
		t.Errorf("JA4 = %q", got)
	}
	if got := metricstest.Sum(t, reg, "botwarden_checks_total", map[string]string{
		"action": "allow", "enforced_action": "allow", "category": "likely_human", "source": "machine_learning", "transport": TransportGRPC,
	}); got != 1 {
		t.Errorf("checks_total = %v", got)
	}
}

func TestCheckVerifiedBotHeaders(t *testing.T) {
	c := dialGRPC(t, newTestServer(t, testPipeline(), Options{}))
	resp, err := c.Check(context.Background(), checkRequest("/", "Mozilla/5.0 (compatible; Googlebot/2.1)", nil))
	if err != nil {
		t.Fatal(err)
	}
	h := headerMap(t, resp.GetOkResponse().GetHeaders())
	if h[detect.HeaderVerified][0] != "true" || h[detect.HeaderVerifiedCat][0] != "search_engine" ||
		h[detect.HeaderCategory][0] != "verified_bot" || h[detect.HeaderTags][0] != "verified-bot" {
		t.Fatalf("headers %v", h)
	}
	f := resp.GetDynamicMetadata().GetFields()
	if !f[detect.FieldVerifiedBot].GetBoolValue() || f[detect.FieldVerifiedBotCategory].GetStringValue() != "search_engine" {
		t.Fatalf("metadata %v", f)
	}
}

func TestCheckMonitorModeStripsButDoesNotInject(t *testing.T) {
	c := dialGRPC(t, newTestServer(t, testPipeline(), Options{}))
	req := checkRequest("/", curlUA, map[string]string{"x-bot-score": "99"})
	req.Attributes.ContextExtensions = map[string]string{"mode": "monitor"}
	resp, err := c.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus().GetCode() != 0 || resp.GetOkResponse() == nil {
		t.Fatalf("monitor mode must allow: %v", resp)
	}
	if n := len(resp.GetOkResponse().GetHeaders()); n != 0 {
		t.Fatalf("monitor mode injected %d headers", n)
	}
	if !slices.Equal(resp.GetOkResponse().GetHeadersToRemove(), []string{"x-bot-score"}) {
		t.Fatalf("spoofed header not stripped: %v", resp.GetOkResponse().GetHeadersToRemove())
	}
	checkMetadata(t, resp.GetDynamicMetadata(), 1, "block", "allow")
	if resp.GetDynamicMetadata().GetFields()[detect.FieldMode].GetStringValue() != "monitor" {
		t.Fatal("mode not in metadata")
	}
}

func TestCheckInjectModeAllowsBlockedWithHeaders(t *testing.T) {
	c := dialGRPC(t, newTestServer(t, testPipeline(), Options{}))
	req := checkRequest("/", curlUA, nil)
	req.Attributes.ContextExtensions = map[string]string{"mode": "inject"}
	resp, err := c.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	h := headerMap(t, resp.GetOkResponse().GetHeaders())
	if resp.GetStatus().GetCode() != 0 || h[detect.HeaderAction][0] != "block" || h[detect.HeaderScore][0] != "1" ||
		h[detect.HeaderDetectionIDs][0] != "1001" || h[detect.HeaderTags][0] != "http-library" {
		t.Fatalf("inject: status %v headers %v", resp.GetStatus(), h)
	}
}

func TestCheckBlock(t *testing.T) {
	c := dialGRPC(t, newTestServer(t, testPipeline(), Options{}))
	req := checkRequest("/", curlUA, map[string]string{"x-request-id": `<script>"x"</script>`})
	resp, err := c.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus().GetCode() != int32(codes.PermissionDenied) {
		t.Fatalf("status %v", resp.GetStatus())
	}
	d := resp.GetDeniedResponse()
	if d.GetStatus().GetCode() != 403 {
		t.Fatalf("http status %v", d.GetStatus())
	}
	h := headerMap(t, d.GetHeaders())
	if h["content-type"][0] != "text/html; charset=utf-8" || h["cache-control"][0] != "no-store" {
		t.Fatalf("headers %v", h)
	}
	body := d.GetBody()
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Fatalf("reference id not escaped: %s", body)
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "<script") || len(body) > 2048 {
		t.Fatalf("block page must be small and self-contained: %s", body)
	}
	checkMetadata(t, resp.GetDynamicMetadata(), 1, "block", "block")
	f := resp.GetDynamicMetadata().GetFields()
	tags := f[detect.FieldBotTags].GetListValue().GetValues()
	ids := f[detect.FieldBotDetectionIDs].GetListValue().GetValues()
	if len(tags) != 1 || tags[0].GetStringValue() != "http-library" || len(ids) != 1 || ids[0].GetNumberValue() != 1001 {
		t.Fatalf("tags %v ids %v", tags, ids)
	}
	if f[detect.FieldBotScoreSrc].GetStringValue() != "heuristics" || f[detect.FieldBotCategory].GetStringValue() != "automated" ||
		f[detect.FieldClientIP].GetStringValue() != "192.0.2.5" || f[detect.FieldRuleID].GetStringValue() != "block-automated" ||
		f[detect.FieldMode].GetStringValue() != "mitigate" || f[detect.FieldVerifiedBot].GetBoolValue() {
		t.Fatalf("metadata %v", f)
	}
}

func TestCheckRateLimit(t *testing.T) {
	c := dialGRPC(t, newTestServer(t, testPipeline(), Options{}))
	resp, err := c.Check(context.Background(), checkRequest("/limited", chromeUA, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus().GetCode() != int32(codes.ResourceExhausted) {
		t.Fatalf("status %v", resp.GetStatus())
	}
	d := resp.GetDeniedResponse()
	h := headerMap(t, d.GetHeaders())
	if d.GetStatus().GetCode() != 429 || !slices.Equal(h["retry-after"], []string{"2"}) {
		t.Fatalf("429 with Retry-After 2 (1.5 s rounded up), got %v %v", d.GetStatus(), h)
	}
	checkMetadata(t, resp.GetDynamicMetadata(), 80, "rate_limit", "rate_limit")
}

func TestCheckSetCookies(t *testing.T) {
	c := dialGRPC(t, newTestServer(t, testPipeline(), Options{}))
	t.Run("allow adds each cookie", func(t *testing.T) {
		resp, err := c.Check(context.Background(), checkRequest("/cookie", chromeUA, nil))
		if err != nil {
			t.Fatal(err)
		}
		add := resp.GetOkResponse().GetResponseHeadersToAdd()
		if len(add) != 2 {
			t.Fatalf("response_headers_to_add = %v", add)
		}
		for _, o := range add {
			// append unset + APPEND_IF_EXISTS_OR_ADD = Envoy addCopy: every
			// cookie reaches the client next to the origin's own.
			if o.GetAppend() != nil || o.GetAppendAction() != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD ||
				o.GetHeader().GetKey() != "set-cookie" || o.GetHeader().GetValue() == "" {
				t.Fatalf("cookie option %v", o)
			}
		}
	})
	t.Run("deny repeats set-cookie", func(t *testing.T) {
		resp, err := c.Check(context.Background(), checkRequest("/cookie", curlUA, nil))
		if err != nil {
			t.Fatal(err)
		}
		h := headerMap(t, resp.GetDeniedResponse().GetHeaders())
		if len(h["set-cookie"]) != 2 {
			t.Fatalf("set-cookie on deny: %v", h["set-cookie"])
		}
	})
}

// challengeResponder stands in for the challenge package: it handles the
// challenge actions and delegates the rest.
type challengeResponder struct{ next detect.Responder }

func (c challengeResponder) Respond(r *detect.Request, v *detect.Verdict) detect.Response {
	if v.EnforcedAction == detect.ActionManagedChallenge {
		h := http.Header{}
		h.Add("Set-Cookie", "__bw_chl=1")
		return detect.Response{Status: 503, Headers: h, Body: []byte("challenge")}
	}
	return c.next.Respond(r, v)
}

func TestCheckCustomResponder(t *testing.T) {
	c := dialGRPC(t, newTestServer(t, testPipeline(), Options{Responder: challengeResponder{BlockResponder{}}}))
	resp, err := c.Check(context.Background(), checkRequest("/challenge", chromeUA, nil))
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDeniedResponse()
	if resp.GetStatus().GetCode() != int32(codes.PermissionDenied) || d.GetBody() != "challenge" {
		t.Fatalf("challenge: %v", resp)
	}
	if d.GetStatus().GetCode() != 403 {
		t.Fatalf("a 5xx denial would be an error to Envoy's http_service; want 403, got %v", d.GetStatus())
	}
	if h := headerMap(t, d.GetHeaders()); !slices.Equal(h["set-cookie"], []string{"__bw_chl=1"}) {
		t.Fatalf("headers %v", h)
	}
	// Without a challenge responder the block page answers challenges.
	c2 := dialGRPC(t, newTestServer(t, testPipeline(), Options{}))
	resp, err = c2.Check(context.Background(), checkRequest("/challenge", chromeUA, nil))
	if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 403 || !strings.Contains(resp.GetDeniedResponse().GetBody(), "Access denied") {
		t.Fatalf("fallback: %v %v", resp, err)
	}
}

type panicResponder struct{}

func (panicResponder) Respond(*detect.Request, *detect.Verdict) detect.Response { panic("boom") }

type panicDecider struct{}

func (panicDecider) Decide(context.Context, *detect.Request, *detect.Verdict) { panic("boom") }

func TestCheckNeverErrors(t *testing.T) {
	tests := []struct {
		name     string
		pipeline *detect.Pipeline
		opts     Options
		req      *authv3.CheckRequest
		wantCode codes.Code
		wantTag  string
	}{
		{"panicking responder sends the block page", testPipeline(), Options{Responder: panicResponder{}}, checkRequest("/", curlUA, nil), codes.PermissionDenied, ""},
		// The pipeline contains the panic and answers its safe verdict.
		{"panicking decider allows", &detect.Pipeline{Decider: panicDecider{}, Budget: -1}, Options{}, checkRequest("/", curlUA, nil), codes.OK, "internal-error"},
		{"empty request is judged", testPipeline(), Options{}, &authv3.CheckRequest{}, codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialGRPC(t, newTestServer(t, tt.pipeline, tt.opts))
			resp, err := c.Check(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("gRPC error for a decision: %v", err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.wantCode {
				t.Fatalf("status %v, want %v", got, tt.wantCode)
			}
			if tt.wantCode != codes.OK && resp.GetDeniedResponse().GetStatus().GetCode() != 403 {
				t.Fatalf("denied %v", resp.GetDeniedResponse())
			}
			if tt.wantTag != "" {
				tags := resp.GetDynamicMetadata().GetFields()[detect.FieldBotTags].GetListValue().GetValues()
				if len(tags) != 1 || tags[0].GetStringValue() != tt.wantTag {
					t.Fatalf("tags %v", tags)
				}
			}
		})
	}
	// A nil request cannot come over the wire; called directly it is allowed.
	s := newTestServer(t, testPipeline(), Options{})
	resp, err := s.Check(context.Background(), nil)
	if err != nil || resp.GetStatus().GetCode() != 0 {
		t.Fatalf("nil request: %v %v", resp, err)
	}
}

func TestCheckDeadlineFallback(t *testing.T) {
	// The pipeline checks its budget between stages (engines must not
	// block), so an engine that overruns it yields the fallback verdict once
	// it returns. Sleeping past the budget makes the overrun certain; no
	// timing is asserted.
	const budget = 5 * time.Millisecond
	slow := detect.EngineFunc{EngineName: "slow", Fn: func(ctx context.Context, r *detect.Request, v *detect.Verdict) error {
		v.Session = &detect.Session{ID: "late"} // evidence of the abandoned run must not reach the response
		time.Sleep(4 * budget)
		return nil
	}}
	reg := prometheus.NewRegistry()
	s := newTestServer(t, &detect.Pipeline{Engines: []detect.Engine{slow, slow}, Budget: budget}, Options{Registerer: reg})
	c := dialGRPC(t, s)
	resp, err := c.Check(context.Background(), checkRequest("/", chromeUA, nil))
	if err != nil || resp.GetStatus().GetCode() != 0 {
		t.Fatalf("deadline: %v %v", resp, err)
	}
	f := resp.GetDynamicMetadata().GetFields()
	if f[detect.FieldRuleID].GetStringValue() != "deadline" {
		t.Fatalf("metadata %v", f)
	}
	if _, ok := f[detect.FieldSessionID]; ok {
		t.Fatal("session from the abandoned pipeline run leaked into the response")
	}
	if got := metricstest.Sum(t, reg, "botwarden_deadline_fallbacks_total", map[string]string{"transport": TransportGRPC}); got != 1 {
		t.Fatalf("deadline fallbacks = %v", got)
	}
}

func TestCheckSessionID(t *testing.T) {
	session := detect.EngineFunc{EngineName: "session", Fn: func(ctx context.Context, r *detect.Request, v *detect.Verdict) error {
		v.Session = &detect.Session{ID: "s-42"}
		return nil
	}}
	c := dialGRPC(t, newTestServer(t, &detect.Pipeline{Engines: []detect.Engine{session}}, Options{}))
	resp, err := c.Check(context.Background(), checkRequest("/", chromeUA, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetDynamicMetadata().GetFields()[detect.FieldSessionID].GetStringValue(); got != "s-42" {
		t.Fatalf("BotSessionID = %q", got)
	}
}

func TestNewRejectsBadConfigAndDuplicateMetrics(t *testing.T) {
	bad := DefaultConfig()
	bad.HTTP.Prefix = "x"
	p := &detect.Pipeline{}
	if _, err := New(p, Options{Config: bad}); err == nil || !strings.Contains(err.Error(), "http.prefix") {
		t.Fatalf("bad config: %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := New(p, Options{Config: DefaultConfig(), Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(p, Options{Config: DefaultConfig(), Registerer: reg}); err == nil {
		t.Fatal("second registration on one registry must fail")
	}
	if _, err := New(p, Options{Config: DefaultConfig()}); err != nil {
		t.Fatalf("nil registerer: %v", err)
	}
	// Without a pipeline there is nothing to answer with, not even the
	// safe verdict (its action is the pipeline's).
	if _, err := New(nil, Options{Config: DefaultConfig()}); err == nil || !strings.Contains(err.Error(), "nil pipeline") {
		t.Fatalf("nil pipeline: %v", err)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, -time.Second: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
