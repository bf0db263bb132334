package envoy

import (
	"os"
	"path/filepath"
	"testing"
)

// The parsers take operator-written files: any input must yield a value or
// an error, never a panic or a hang.

func FuzzParseBootstrap(f *testing.F) {
	for _, file := range []string{"envoy.yaml", "envoy-http.yaml"} {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBootstrap(data)
		if err == nil && b == nil {
			t.Fatal("nil bootstrap without an error")
		}
	})
}

func FuzzParseManifests(f *testing.F) {
	files, _ := filepath.Glob("istio/*.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := ParseManifests(data)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Spec == nil && m.Mesh == nil && m.Object == nil {
				t.Fatalf("%s %s decoded to nothing", m.Kind, m.Name)
			}
		}
	})
}
