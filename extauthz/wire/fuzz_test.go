package wire

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
)

// FuzzUnmarshal is what makes the package trustworthy: on every input
// proto.Unmarshal accepts, Unmarshal must succeed with the same view, also
// when decoding into a Request that held another request before; on any
// other input it must merely return.
func FuzzUnmarshal(f *testing.F) {
	for _, req := range samples() {
		f.Add(marshal(f, req))
	}
	dirty := marshal(f, browserRequest())
	f.Fuzz(func(t *testing.T, data []byte) {
		var fresh, reused Request
		if err := reused.Unmarshal(dirty); err != nil {
			t.Fatal(err)
		}
		err := fresh.Unmarshal(data)
		rerr := reused.Unmarshal(data)
		var pb authv3.CheckRequest
		if proto.Unmarshal(data, &pb) != nil {
			return
		}
		if err != nil || rerr != nil {
			t.Fatalf("proto.Unmarshal accepted it, Unmarshal: %v / %v", err, rerr)
		}
		want := viewOf(&pb)
		if d := diff(fresh.view(), want); d != "" {
			t.Fatal(d)
		}
		if d := diff(reused.view(), want); d != "" {
			t.Fatalf("reused Request: %s", d)
		}
	})
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzUnmarshal from samples()")

// TestWriteSeeds keeps the checked-in corpus (which `go test` runs as
// FuzzUnmarshal subtests, and which seeds `go test -fuzz`) generated from
// the samples: go test -run TestWriteSeeds -write-seeds.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzUnmarshal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, req := range samples() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", marshal(t, req))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// proto.Unmarshal must keep rejecting invalid UTF-8, or the deliberate
// divergence documented in the package comment has changed.
func TestProtoRejectsInvalidUTF8(t *testing.T) {
	if proto.Unmarshal(inHTTP(tagString(httpPath, "\xff")), &authv3.CheckRequest{}) == nil {
		t.Fatal("proto.Unmarshal now accepts invalid UTF-8; update the package comment")
	}
}
