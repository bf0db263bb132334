package policy

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
)

// preset is an embedded rule set a policy includes by name.
type preset struct {
	name string
	spec presetSpec
}

// loadPresets parses the embedded presets once. A broken embedded preset is
// a build defect; TestPresetsCompile catches it.
var loadPresets = sync.OnceValues(func() (map[string]*preset, error) {
	files, err := embedded.ReadDir("presets")
	if err != nil {
		return nil, fmt.Errorf("policy: embedded presets: %w", err)
	}
	out := map[string]*preset{}
	for _, f := range files {
		data, err := embedded.ReadFile("presets/" + f.Name())
		if err != nil {
			return nil, fmt.Errorf("policy: embedded preset %s: %w", f.Name(), err)
		}
		p := &preset{name: strings.TrimSuffix(f.Name(), path.Ext(f.Name()))}
		if probs := decodeStrict(data, &p.spec); len(probs) > 0 {
			return nil, &LoadError{Source: "preset " + p.name, Problems: probs}
		}
		out[p.name] = p
	}
	return out, nil
})

// PresetNames lists the embedded presets.
func PresetNames() []string {
	all, _ := loadPresets()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// selectPresets resolves the names a policy lists into presets in their
// fixed evaluation order (AI presets before bot_fight, so that an AI
// crawler's verified status cannot allow it before the AI rule decides),
// whatever order the file lists them in.
func selectPresets(names []string) ([]*preset, []Problem) {
	all, err := loadPresets()
	if err != nil {
		return nil, []Problem{{Field: "presets", Msg: err.Error()}}
	}
	var out []*preset
	var probs []Problem
	for _, n := range names {
		p, ok := all[n]
		switch {
		case !ok:
			probs = append(probs, Problem{Field: "presets", Msg: fmt.Sprintf("unknown preset %q (known: %s)", n, strings.Join(PresetNames(), ", "))})
		case slices.Contains(out, p):
			probs = append(probs, Problem{Field: "presets", Msg: fmt.Sprintf("preset %q listed twice", n)})
		default:
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].spec.Order < out[j].spec.Order })
	return out, probs
}
