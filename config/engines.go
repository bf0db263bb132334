package config

import (
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/verified"
)

// Engines is the engine table: every hot-path engine botwarden can run, in
// the order `detection.engines` defaults to. Each line says where the
// engine's section lives in Config, its defaults, how it is built and which
// other engines' evidence it reads. Config.Default, Config.Validate, the
// known names and the server's wiring all follow from this table.
//
// Adding an engine: write its package (a Config with DefaultConfig and
// Validate, a constructor returning a detect.Engine), add its section field
// to Config, and add one line here. TestEngineTable fails when a line and
// the rest are out of step.
//
// The default order: session state and reputation first (they carry what
// earlier requests proved), then network facts (the model reads
// ip.datacenter), the static rules, bot verification (which keeps a
// heuristic's source when both say "bot"), and the model last.
var Engines = []EngineSpec{
	Entry[session.Config]{Name: "session", On: true, Default: session.DefaultConfig,
		Section: func(c *Config) *session.Config { return &c.Session },
		Build:   func(_ session.Config, d Deps) (detect.Engine, error) { return d.Sessions, nil },
	}.Spec(),
	Entry[Reputation]{Name: "reputation", On: true, Default: defaultReputation,
		Section: func(c *Config) *Reputation { return &c.Reputation },
		Build:   func(c Reputation, d Deps) (detect.Engine, error) { return reputation.NewEngine(c.Lookup, d.Store) },
		Reads:   []Read{{"session", "the session id it looks up"}},
	}.Spec(),
	Entry[network.Config]{Name: "network", On: true, Default: network.DefaultConfig,
		Section: func(c *Config) *network.Config { return &c.Network },
		Build:   func(c network.Config, d Deps) (detect.Engine, error) { return network.New(c, d.Log, d.Registerer) },
	}.Spec(),
	Entry[heuristics.Config]{Name: "heuristics", On: true, Default: heuristics.DefaultConfig,
		Section: func(c *Config) *heuristics.Config { return &c.Heuristics },
		Build: func(c heuristics.Config, d Deps) (detect.Engine, error) {
			return heuristics.New(c, d.Log, d.Registerer)
		},
	}.Spec(),
	Entry[verified.Config]{Name: "verified", On: true, Default: verified.DefaultConfig,
		Section: func(c *Config) *verified.Config { return &c.Verified },
		Build:   buildVerified,
		Reads:   []Read{{"heuristics", "a rule's score 1 and its BotScoreSrc, which a verified bot keeps"}},
	}.Spec(),
	Entry[ml.Config]{Name: "ml", On: true, Default: ml.DefaultConfig,
		Section: func(c *Config) *ml.Config { return &c.ML },
		Build:   func(c ml.Config, d Deps) (detect.Engine, error) { return ml.New(c, d.Log, d.Registerer) },
		Reads: []Read{
			{"network", "ip.datacenter, ip.private_relay and the cloud-*/vpn-ip tags, features of its own"},
			{"session", "the session (the client its pace counts) and the session-foreign tag"},
			{"verified", "a verified bot's score 1, which the model must not replace"},
		},
	}.Spec(),
}

// buildVerified starts the reverse-DNS workers: they must be running before
// the first check that needs one.
func buildVerified(c verified.Config, d Deps) (detect.Engine, error) {
	e, err := verified.New(c, d.Log, d.Registerer)
	if err != nil {
		return nil, err
	}
	e.Start()
	return e, nil
}

// EngineSpec is one line of the engine table.
type EngineSpec struct {
	// Name is how detection.engines names the engine; the built engine's
	// Name() returns it too.
	Name string
	// Section is the top-level key of the engine's configuration.
	Section string
	// On puts the engine in the default detection.engines.
	On bool
	// Reads lists evidence the engine takes from other engines' verdict
	// fields: when both are listed, the writer must come first, or the
	// reader silently runs without it.
	Reads []Read

	setDefault func(*Config)
	validate   func(*Config) error
	build      func(*Config, Deps) (detect.Engine, error)
	// section returns the engine's section value (for the table's test).
	section func(*Config) any
}

// Read is evidence one engine takes from another.
type Read struct {
	Engine string // the engine that writes it
	What   string // what is read, for the error message
}

// Deps is what the server shares with the engines it builds.
type Deps struct {
	// Log already carries engine=<name>.
	Log        zerolog.Logger
	Registerer prometheus.Registerer
	// Sessions is the one cookie manager: the session engine, the finisher
	// that issues cookies, and the challenge all use it.
	Sessions *session.Manager
	// Store is the reputation store the behavioural analysis writes.
	Store reputation.Store
}

// Build builds the engine from its section of c.
func (s EngineSpec) Build(c *Config, d Deps) (detect.Engine, error) { return s.build(c, d) }

// Entry is a table line before it is typed away: C is the engine's
// section type, so its default, validation and build all go through the
// one value in Config.
type Entry[C interface{ Validate() error }] struct {
	Name string
	On   bool
	// Section returns the engine's field of Config; its YAML key must be
	// Name.
	Section func(*Config) *C
	Default func() C
	Build   func(C, Deps) (detect.Engine, error)
	Reads   []Read
}

// Spec makes the table line.
func (e Entry[C]) Spec() EngineSpec {
	return EngineSpec{
		Name: e.Name, Section: e.Name, On: e.On, Reads: e.Reads,
		setDefault: func(c *Config) { *e.Section(c) = e.Default() },
		validate:   func(c *Config) error { return (*e.Section(c)).Validate() },
		build:      func(c *Config, d Deps) (detect.Engine, error) { return e.Build(*e.Section(c), d) },
		section:    func(c *Config) any { return *e.Section(c) },
	}
}

// DefaultEngines is the engine order used when the file names none: the
// table's engines that are on by default, in table order.
func DefaultEngines() []string {
	var names []string
	for _, e := range Engines {
		if e.On {
			names = append(names, e.Name)
		}
	}
	return names
}

// EngineNames lists every engine a config may name, in table order.
func EngineNames() []string {
	names := make([]string, len(Engines))
	for i, e := range Engines {
		names[i] = e.Name
	}
	return names
}

// LookupEngine returns the table line of the engine called name.
func LookupEngine(name string) (EngineSpec, bool) {
	i := slices.IndexFunc(Engines, func(e EngineSpec) bool { return e.Name == name })
	if i < 0 {
		return EngineSpec{}, false
	}
	return Engines[i], true
}

// KnownEngine reports whether name is an engine botwarden can build.
func KnownEngine(name string) bool {
	_, ok := LookupEngine(name)
	return ok
}

// validateEngines checks detection.engines: known names, each once, and
// every engine after those whose evidence it reads.
func validateEngines(list []string) []error {
	var errs []error
	at := func(i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("detection.engines[%d]: "+format, append([]any{i}, args...)...))
	}
	pos := map[string]int{}
	for i, name := range list {
		if _, dup := pos[name]; dup {
			at(i, "engine %q listed twice", name)
			continue
		}
		pos[name] = i
	}
	for i, name := range list {
		spec, ok := LookupEngine(name)
		if !ok {
			at(i, "unknown engine %q (known: %v)", name, EngineNames())
			continue
		}
		if pos[name] != i {
			continue // the duplicate, reported above
		}
		for _, r := range spec.Reads {
			if j, listed := pos[r.Engine]; listed && j > i {
				at(i, "%q must come after %q (detection.engines[%d]): it reads %s", name, r.Engine, j, r.What)
			}
		}
	}
	return errs
}
