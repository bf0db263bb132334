package wire

import (
	"math"
	"net/netip"
	"testing"
	"unicode/utf8"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// FuzzStructWriter: whatever values are written, the field decodes as
// exactly dynamic_metadata, holding the Struct structpb builds from them.
func FuzzStructWriter(f *testing.F) {
	f.Add("machine_learning", 97.0, true, "tag-a", "tag-b", 10111, "2001:db8::7")
	f.Add("", 0.0, false, "", "", 0, "")
	f.Add("\u00e9t\u00e9", -1e300, true, "long tag with spaces", "", -1, "203.0.113.9")
	f.Fuzz(func(t *testing.T, s string, n float64, b bool, tag1, tag2 string, id int, ip string) {
		// Each string on its own: "\xd7" and "\x9d" are invalid alone but
		// their concatenation is a valid rune.
		if !utf8.ValidString(s) || !utf8.ValidString(tag1) || !utf8.ValidString(tag2) || math.IsNaN(n) {
			t.Skip("strings must be valid UTF-8 (the caller's job); NaN never equals itself")
		}
		addr, _ := netip.ParseAddr(ip)
		w := NewStructWriter()
		w.String("s", s)
		w.Number("n", n)
		w.Bool("b", b)
		w.Strings("tags", []string{tag1, tag2})
		w.Strings("none", nil)
		w.Numbers("ids", []int{id, 0})
		w.Addr("ip", addr)
		field := w.Field()

		var resp authv3.CheckResponse
		if err := proto.Unmarshal(field, &resp); err != nil {
			t.Fatalf("does not decode: %v", err)
		}
		if len(resp.ProtoReflect().GetUnknown()) != 0 || resp.GetDynamicMetadata() == nil {
			t.Fatalf("not exactly dynamic_metadata: %v", &resp)
		}
		addrString := ""
		if addr.IsValid() {
			addrString = addr.String()
		}
		want, err := structpb.NewStruct(map[string]any{
			"s": s, "n": n, "b": b, "tags": []any{tag1, tag2}, "none": []any{},
			"ids": []any{float64(id), 0.0}, "ip": addrString,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(resp.GetDynamicMetadata(), want) {
			t.Fatalf("got  %v\nwant %v", resp.GetDynamicMetadata(), want)
		}
	})
}
