package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/ranges"
)

// The update-ranges path for the network sets: each official source is
// served in its own shape by a loopback HTTP server, Update writes the file,
// and an engine loading it uses the refreshed sets.
func TestUpdateRangesThenLoad(t *testing.T) {
	base := embedded(t)
	fresh := netip.MustParsePrefix("81.2.69.0/28")
	srcs := Sources()
	byPath := map[string]string{}
	for i, s := range srcs {
		if base.Len(s.Set) == 0 {
			t.Fatalf("source for %s: no such embedded set", s.Set)
		}
		if !strings.HasPrefix(s.URL, "https://") {
			t.Errorf("%s: not https: %s", s.Set, s.URL)
		}
		ps := append([]netip.Prefix{fresh}, base.Prefixes(s.Set)...)
		path := fmt.Sprintf("/src/%d", i)
		byPath[path] = render(t, s.Format, ps)
		srcs[i].URL = path // completed below, once the server runs
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := byPath[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	for i := range srcs {
		srcs[i].URL = srv.URL + srcs[i].URL
	}
	out := t.TempDir() + "/ranges.json"
	if _, err := ranges.Update(context.Background(), srv.Client(), srcs, out, ranges.Options{}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.RangesFile = out
	e := newEngine(t, cfg)
	info, tags, _ := e.Lookup(netip.MustParseAddr("81.2.69.5"))
	if !info.PrivateRelay || len(tags) == 0 || tags[0] != TagPrivateRelay {
		t.Fatalf("refreshed relay set not used: %+v %v", info, tags)
	}
}

func render(t *testing.T, f ranges.Format, ps []netip.Prefix) string {
	t.Helper()
	var b []byte
	switch f {
	case ranges.FormatPrefixesJSON:
		var doc struct {
			Prefixes []map[string]string `json:"prefixes"`
		}
		for _, p := range ps {
			k := "ipv4Prefix"
			if p.Addr().Is6() {
				k = "ipv6Prefix"
			}
			doc.Prefixes = append(doc.Prefixes, map[string]string{k: p.String(), "service": "Google Cloud"})
		}
		b, _ = json.Marshal(doc)
	case ranges.FormatAWSJSON:
		var doc struct {
			Prefixes []map[string]string `json:"prefixes"`
			IPv6     []map[string]string `json:"ipv6_prefixes"`
		}
		for _, p := range ps {
			if p.Addr().Is4() {
				doc.Prefixes = append(doc.Prefixes, map[string]string{"ip_prefix": p.String(), "region": "eu-west-2", "service": "EC2"})
			} else {
				doc.IPv6 = append(doc.IPv6, map[string]string{"ipv6_prefix": p.String(), "region": "eu-west-2"})
			}
		}
		b, _ = json.Marshal(doc)
	case ranges.FormatText:
		var sb strings.Builder
		sb.WriteString("# prefix,country,region,city,postal\n")
		for _, p := range ps {
			sb.WriteString(p.String() + ",GB,GB-ENG,London,\n")
		}
		return sb.String()
	default:
		t.Fatalf("no renderer for %s", f)
	}
	return string(b)
}
