package extauthz

import (
	"net/netip"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz/wire"
)

// referenceMetadata is the Struct structpb builds from a map of what
// writeMetadata writes, independently of both of its writers.
func referenceMetadata(t testing.TB, r *detect.Request, v *detect.Verdict) *structpb.Struct {
	t.Helper()
	src := v.Source
	if src == "" {
		src = detect.SourceNotComputed
	}
	tags := make([]any, len(v.Tags))
	for i, tag := range v.Tags {
		tags[i] = utf8Safe(tag)
	}
	ids := make([]any, len(v.DetectionIDs))
	for i, id := range v.DetectionIDs {
		ids[i] = float64(id)
	}
	m := map[string]any{
		detect.FieldBotScore:            float64(v.Score),
		detect.FieldBotScoreSrc:         utf8Safe(string(src)),
		detect.FieldBotCategory:         string(v.Category()),
		detect.FieldJA4:                 utf8Safe(r.JA4()),
		detect.FieldJSDetectionPassed:   v.JSDetectionResult(),
		detect.FieldVerifiedBot:         v.Verified,
		detect.FieldVerifiedBotCategory: utf8Safe(v.VerifiedCategory),
		detect.FieldAction:              utf8Safe(string(v.Action)),
		detect.FieldEnforcedAction:      utf8Safe(string(v.EnforcedAction)),
		detect.FieldRuleID:              utf8Safe(v.RuleID),
		detect.FieldRayID:               r.Reference(),
		detect.FieldMode:                utf8Safe(string(v.Mode)),
		detect.FieldClientIP:            addrString(r.ClientIP),
		detect.FieldBotTags:             tags,
		detect.FieldBotDetectionIDs:     ids,
	}
	if v.Session != nil {
		m[detect.FieldSessionID] = utf8Safe(v.Session.ID)
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func decodeMetadata(t testing.TB, b []byte) *structpb.Struct {
	t.Helper()
	var resp authv3.CheckResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		t.Fatalf("metadata bytes do not decode: %v", err)
	}
	if len(resp.ProtoReflect().GetUnknown()) != 0 || resp.GetDynamicMetadata() == nil {
		t.Fatalf("metadata bytes are not exactly dynamic_metadata: %v", &resp)
	}
	return resp.GetDynamicMetadata()
}

// wireMetadata is the dynamic_metadata field the gRPC server sends.
func wireMetadata(r *detect.Request, v *detect.Verdict) []byte {
	w := wire.NewStructWriter()
	writeMetadata(w, r, v)
	return w.Field()
}

// typedMetadata is the Struct Check returns.
func typedMetadata(r *detect.Request, v *detect.Verdict) *structpb.Struct {
	m := newStructMetadata()
	writeMetadata(m, r, v)
	return m.s
}

// sameMetadata checks both writers against the reference.
func sameMetadata(t *testing.T, r *detect.Request, v *detect.Verdict) {
	t.Helper()
	want := referenceMetadata(t, r, v)
	if got := decodeMetadata(t, wireMetadata(r, v)); !proto.Equal(got, want) {
		t.Fatalf("wire metadata\n got %v\nwant %v", got, want)
	}
	if got := typedMetadata(r, v); !proto.Equal(got, want) {
		t.Fatalf("typed metadata\n got %v\nwant %v", got, want)
	}
}

func TestMetadataBytes(t *testing.T) {
	cases := []struct {
		name string
		r    *detect.Request
		v    *detect.Verdict
	}{
		{"nothing computed", &detect.Request{}, &detect.Verdict{}},
		{"human with session", &detect.Request{
			ClientIP: netip.MustParseAddr("2001:db8::7"),
			Headers:  detect.Headers{detect.HeaderJA4: "t13d1516h2_8daaf6152771_02713d6af862"},
		}, &detect.Verdict{Session: &detect.Session{ID: "s-123"}, Score: 97, Source: detect.SourceML, Action: detect.ActionAllow, EnforcedAction: detect.ActionAllow,
			RuleID: "default", Mode: detect.ModeMitigate, JSDetectionPassed: true}},
		{"blocked bot", &detect.Request{ClientIP: netip.MustParseAddr("203.0.113.9")}, &detect.Verdict{
			Score: 1, Source: detect.SourceHeuristics, DetectionIDs: []int{10111, 10002, 0, -1, 1 << 40},
			Tags: []string{"http-library", "", "long-" + string(make([]byte, 300))}, Action: detect.ActionBlock,
			EnforcedAction: detect.ActionBlock, RuleID: "bot_fight.definitely_automated", Mode: detect.ModeMitigate}},
		{"verified", &detect.Request{}, &detect.Verdict{Score: 50, Verified: true, VerifiedCategory: "search_engine"}},
		{"invalid utf-8 everywhere", &detect.Request{Headers: detect.Headers{detect.HeaderJA4: "\xff\xfe"}},
			&detect.Verdict{Session: &detect.Session{ID: "\xc3\x28"}, Tags: []string{"ok", "\xff"}, RuleID: "r\xff", VerifiedCategory: "\xe2\x82", Mode: "\x80"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { sameMetadata(t, tc.r, tc.v) })
	}
}

// FuzzMetadataBytes: whatever strings a verdict carries, Envoy gets a
// Struct that decodes, with the values structpb would have written, and
// in-process callers get the same Struct.
func FuzzMetadataBytes(f *testing.F) {
	f.Add(97, "machine_learning", "default", "t13d", "tag-a", "tag\xff", 10111, true, "sess")
	f.Add(0, "", "", "", "", "", 0, false, "")
	f.Fuzz(func(t *testing.T, score int, src, rule, ja4, tag1, tag2 string, id int, verified bool, session string) {
		r := &detect.Request{Headers: detect.Headers{detect.HeaderJA4: ja4}}
		v := &detect.Verdict{Score: score, Source: detect.Source(src), RuleID: rule, Tags: []string{tag1, tag2},
			DetectionIDs: []int{id}, Verified: verified, VerifiedCategory: rule}
		if session != "" {
			v.Session = &detect.Session{ID: session}
		}
		sameMetadata(t, r, v)
	})
}
