// Package catalogue is the one list of every detection ID botwarden emits in
// BotDetectionIDs, with its description. Each engine owns its IDs (and a
// range of them) next to the rule that fires them; this package gathers
// them, checks they never collide, and serves them to operators
// (`botwarden detections`) and the dashboard.
package catalogue

import (
	"fmt"
	"maps"
	"slices"

	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/verified"
)

// Entry is one detection.
type Entry struct {
	ID          int
	Engine      string // the engine that emits it
	Name        string // short name, "" where the engine has none
	Description string
}

// Ranges are the ID blocks each engine owns.
var Ranges = map[string][2]int{
	"verified":   {2000, 2999},
	"session":    {3000, 3999},
	"heuristics": {10000, 10999},
}

// All returns every detection, sorted by ID.
func All() []Entry {
	var out []Entry
	for _, d := range heuristics.Catalogue {
		out = append(out, Entry{ID: d.ID, Engine: "heuristics", Name: d.Name, Description: d.Description})
	}
	add := func(engine string, m map[int]string) {
		for _, id := range slices.Sorted(maps.Keys(m)) {
			out = append(out, Entry{ID: id, Engine: engine, Description: m[id]})
		}
	}
	add("verified", verified.DetectionIDs)
	add("session", session.DetectionIDs)
	slices.SortFunc(out, func(a, b Entry) int { return a.ID - b.ID })
	return out
}

// Lookup returns the detection with id.
func Lookup(id int) (Entry, bool) {
	all := All()
	i, ok := slices.BinarySearchFunc(all, id, func(e Entry, id int) int { return e.ID - id })
	if !ok {
		return Entry{}, false
	}
	return all[i], true
}

// Check reports IDs that collide, fall outside their engine's range, or
// lack a description.
func Check() error {
	seen := map[int]string{}
	for _, e := range All() {
		if prev, dup := seen[e.ID]; dup {
			return fmt.Errorf("detection %d: emitted by both %s and %s", e.ID, prev, e.Engine)
		}
		seen[e.ID] = e.Engine
		r, ok := Ranges[e.Engine]
		if !ok || e.ID < r[0] || e.ID > r[1] {
			return fmt.Errorf("detection %d (%s): outside the engine's range %v", e.ID, e.Engine, r)
		}
		if e.Description == "" {
			return fmt.Errorf("detection %d (%s): no description", e.ID, e.Engine)
		}
	}
	return nil
}
