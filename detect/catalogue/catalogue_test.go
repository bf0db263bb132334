package catalogue

import "testing"

func TestCatalogueIsConsistent(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	all := All()
	engines := map[string]int{}
	for _, e := range all {
		engines[e.Engine]++
	}
	for engine := range Ranges {
		if engines[engine] == 0 {
			t.Errorf("no detections from %s", engine)
		}
	}
	for _, tt := range []struct {
		id     int
		engine string
	}{{10101, "heuristics"}, {2011, "verified"}, {3001, "session"}} {
		e, ok := Lookup(tt.id)
		if !ok || e.Engine != tt.engine {
			t.Errorf("Lookup(%d) = %+v, %v; want engine %s", tt.id, e, ok, tt.engine)
		}
	}
	if _, ok := Lookup(1); ok {
		t.Error("Lookup(1) found a detection")
	}
}
