package gateway

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// vouchFilter stands in for the Wasm cookie filter: it vouches for requests
// with a good cookie (a header the vouched route matches, skipping the
// check), answers a blocked cookie itself, and records what it saw.
type vouchFilter struct {
	mu        sync.Mutex
	responses []int
	logged    []string
}

func (f *vouchFilter) DecodeHeaders(s *Stream) *LocalReply {
	s.Headers.Remove("x-e2e-vouched") // a client cannot vouch for itself
	switch s.Headers.Value("cookie") {
	case "bw=good":
		s.Headers.Set("x-e2e-vouched", "yes")
		meta, _ := structpb.NewStruct(map[string]any{"vouched": true})
		s.SetMetadata("botwarden.wasm", meta)
	case "bw=blocked":
		return &LocalReply{Status: http.StatusForbidden, Body: "blocked by cookie", Details: "wasm_local_reply"}
	}
	return nil
}

func (f *vouchFilter) EncodeHeaders(s *Stream, resp *HeaderMap) {
	resp.Set("x-e2e-filter", "seen")
	f.mu.Lock()
	f.responses = append(f.responses, s.Status())
	f.mu.Unlock()
}

func (f *vouchFilter) OnLog(s *Stream) {
	f.mu.Lock()
	f.logged = append(f.logged, s.RouteName())
	f.mu.Unlock()
}

func TestPreAuthzFilter(t *testing.T) {
	f := &vouchFilter{}
	r := newRig(t, Options{Config: "testdata/vouched-route.yaml", Filters: []Filter{f}}, nil)

	// A good cookie: the route is re-picked after the filter and skips the check.
	resp, body := r.do(t, "GET", "/a", "Cookie", "bw=good")
	if resp.StatusCode != 200 || origin(t, body).header("x-e2e-vouched") != "yes" {
		t.Fatalf("vouched request: %d %s", resp.StatusCode, body)
	}
	if n := len(r.authz.requests()); n != 0 {
		t.Fatalf("%d checks for a vouched request", n)
	}
	if resp.Header.Get("X-E2e-Filter") != "seen" {
		t.Error("the filter's encoder did not run")
	}

	// A client claiming to be vouched for is checked.
	r.do(t, "GET", "/b", "X-E2e-Vouched", "yes")
	if n := len(r.authz.requests()); n != 1 {
		t.Fatalf("%d checks after a spoofed vouch, want 1", n)
	}

	// A blocked cookie: local reply, no check, no upstream.
	resp, body = r.do(t, "GET", "/c", "Cookie", "bw=blocked")
	if resp.StatusCode != 403 || body != "blocked by cookie" || len(r.authz.requests()) != 1 {
		t.Fatalf("blocked cookie: %d %q, %d checks", resp.StatusCode, body, len(r.authz.requests()))
	}

	// Metadata set by the filter reaches the access log.
	entries := r.tap.Entries()
	deadline := time.Now().Add(5 * time.Second)
	for len(entries) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		entries = r.tap.Entries()
	}
	if len(entries) != 3 {
		t.Fatalf("%d access-log entries", len(entries))
	}
	if !entries[0].GetCommonProperties().GetMetadata().GetFilterMetadata()["botwarden.wasm"].GetFields()["vouched"].GetBoolValue() {
		t.Error("filter metadata missing from the access log")
	}
	if d := entries[2].GetResponse().GetResponseCodeDetails(); d != "wasm_local_reply" {
		t.Errorf("details %q", d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.responses) != 3 || f.responses[2] != 403 || len(f.logged) != 3 || f.logged[0] != "vouched" {
		t.Errorf("encoder saw %v, log saw %v", f.responses, f.logged)
	}
}

// TestFilterEnabledMetadata: header_to_metadata turns a marker into dynamic
// metadata and ext_authz's filter_enabled_metadata skips the check for it
// (the mechanism envoy-wasm.yaml uses for the cookie fast path).
func TestFilterEnabledMetadata(t *testing.T) {
	r := newRig(t, Options{Config: "testdata/metadata-skip.yaml"}, nil)
	resp, body := r.do(t, "GET", "/fast", "X-E2e-Vouched", "1")
	if resp.StatusCode != 200 || origin(t, body).has("x-e2e-vouched") {
		t.Fatalf("%d %s: want 200 with the marker removed", resp.StatusCode, body)
	}
	if n := len(r.authz.requests()); n != 0 {
		t.Fatalf("%d checks with skip=1 in metadata", n)
	}
	r.do(t, "GET", "/slow", "X-E2e-Vouched", "0")
	r.do(t, "GET", "/slow")
	if n := len(r.authz.requests()); n != 2 {
		t.Fatalf("%d checks, want 2 (metadata other than 1, and none)", n)
	}
}
