// Package config holds botwarden's single configuration file: every field has
// a default, environment variables override any field, and validation errors
// name the field they are about. Each section's type belongs to the package
// that uses it; this package only assembles, loads and validates.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/botwarden/botwarden/accesslog"
	"github.com/botwarden/botwarden/admin"
	"github.com/botwarden/botwarden/analytics"
	"github.com/botwarden/botwarden/cluster"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/detect/challenge"
	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/detect/policy"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/verified"
	"github.com/botwarden/botwarden/extauthz"
)

// Config is the whole file.
type Config struct {
	Server    Server    `yaml:"server"`
	Log       Log       `yaml:"log"`
	Detection Detection `yaml:"detection"`

	// Package-owned sections; each type documents its fields.
	ExtAuthz   extauthz.Config   `yaml:"extauthz"`
	Policy     policy.Config     `yaml:"policy"`
	Session    session.Config    `yaml:"session"`
	Challenge  challenge.Config  `yaml:"challenge"`
	Heuristics heuristics.Config `yaml:"heuristics"`
	Verified   verified.Config   `yaml:"verified"`
	Network    network.Config    `yaml:"network"`
	ML         ml.Config         `yaml:"ml"`
	Reputation Reputation        `yaml:"reputation"`
	AccessLog  accesslog.Config  `yaml:"accesslog"`
	Behavior   behavior.Config   `yaml:"behavior"`
	Analytics  analytics.Config  `yaml:"analytics"`
	Admin      admin.Config      `yaml:"admin"`
	Cluster    cluster.Config    `yaml:"cluster"`
}

// Reputation configures the verdict store the behavioural analysis writes
// and the hot path reads.
type Reputation struct {
	Store  reputation.LocalConfig  `yaml:"store"`
	Lookup reputation.EngineConfig `yaml:"lookup"`
}

func defaultReputation() Reputation {
	return Reputation{Store: reputation.DefaultLocalConfig(), Lookup: reputation.DefaultEngineConfig()}
}

// Validate reports every invalid field of both parts, each by its name.
func (r Reputation) Validate() error {
	return errors.Join(append(within("store", r.Store.Validate()), within("lookup", r.Lookup.Validate())...)...)
}

// Server is where botwarden listens and how it stops.
type Server struct {
	// GRPCAddr serves ext_authz Check, the ALS receiver and gRPC health.
	GRPCAddr string `yaml:"grpc_addr"`
	// HTTPAddr serves the HTTP authz endpoint, the challenge endpoint,
	// /healthz, /readyz and /metrics.
	HTTPAddr string `yaml:"http_addr"`
	// ShutdownGrace bounds how long in-flight checks may drain on stop.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// MaxRecvMsgBytes caps one gRPC message (CheckRequest or ALS batch).
	MaxRecvMsgBytes int `yaml:"max_recv_msg_bytes"`
	// MaxConcurrentStreams caps streams per gRPC connection.
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams"`
	// AdminAddr serves the dashboard, its /api/v1 API, /metrics and pprof,
	// apart from the ports Envoy talks to; "" turns it off. Without
	// admin.token it must be a loopback address.
	AdminAddr string `yaml:"admin_addr"`
}

// Log configures zerolog.
type Log struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // json or console
}

// Detection configures the per-request pipeline.
type Detection struct {
	// Budget is the per-check deadline; past it the fallback verdict answers.
	Budget time.Duration `yaml:"budget"`
	// FallbackAction is the action of that safe verdict: allow (fail open)
	// or block (fail closed).
	FallbackAction detect.Action `yaml:"fallback_action"`
	// Engines lists the engines that run, in this order; an engine not
	// listed is off (this list is the only switch). An engine must come
	// after those whose evidence it reads (config.Engines says which).
	Engines []string `yaml:"engines"`
}

// Default returns the embedded defaults: botwarden runs on these with no
// file. The engines' sections come from the engine table.
func Default() Config {
	c := Config{
		Server: Server{
			GRPCAddr:             ":9001",
			HTTPAddr:             ":8080",
			ShutdownGrace:        10 * time.Second,
			MaxRecvMsgBytes:      8 << 20,
			MaxConcurrentStreams: 1000,
			AdminAddr:            "127.0.0.1:9090",
		},
		Log: Log{Level: "info", Format: "json"},
		Detection: Detection{
			Budget:         detect.DefaultBudget,
			FallbackAction: detect.ActionAllow,
			Engines:        DefaultEngines(),
		},
		ExtAuthz:  extauthz.DefaultConfig(),
		Policy:    policy.DefaultConfig(),
		Challenge: challenge.DefaultConfig(),
		AccessLog: accesslog.DefaultConfig(),
		Behavior:  behavior.DefaultConfig(),
		Analytics: analytics.DefaultConfig(),
		Admin:     admin.DefaultConfig(),
		Cluster:   cluster.DefaultConfig(),
	}
	for _, e := range Engines {
		e.setDefault(&c)
	}
	return c
}

// Load reads the file at path (or only defaults when path is ""), applies
// environment overrides from env (nil means os.Environ), and validates.
func Load(path string, env []string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := decode(data, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if env == nil {
		env = os.Environ()
	}
	if err := ApplyEnv(&cfg, env); err != nil {
		return cfg, fmt.Errorf("config: environment: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// Parse decodes YAML bytes over the defaults and validates, without the
// environment (for tests and fuzzing).
func Parse(data []byte) (Config, error) {
	cfg := Default()
	if err := decode(data, &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func decode(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a typo is an error naming the field, not a silent default
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return annotate(data, err)
	}
	// A second document is almost always a mistake (a stray '---').
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return errors.New("more than one YAML document")
	}
	return nil
}

// Validate checks every section and returns all problems, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	field := func(name string, err error) { errs = append(errs, within(name, err)...) }
	field("server.grpc_addr", addr(c.Server.GRPCAddr))
	field("server.http_addr", addr(c.Server.HTTPAddr))
	if c.Server.ShutdownGrace < 0 {
		field("server.shutdown_grace", errors.New("must not be negative"))
	}
	if c.Server.MaxRecvMsgBytes < 4096 {
		field("server.max_recv_msg_bytes", errors.New("must be at least 4096"))
	}
	if c.Server.MaxConcurrentStreams == 0 {
		field("server.max_concurrent_streams", errors.New("must be positive"))
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		field("log.level", fmt.Errorf("unknown level %q (trace, debug, info, warn, error)", c.Log.Level))
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		field("log.format", fmt.Errorf("unknown format %q (json, console)", c.Log.Format))
	}
	if c.Detection.Budget <= 0 {
		field("detection.budget", errors.New("must be positive"))
	}
	if c.Detection.FallbackAction != detect.ActionAllow && c.Detection.FallbackAction != detect.ActionBlock {
		field("detection.fallback_action", fmt.Errorf("%q: must be allow or block", c.Detection.FallbackAction))
	}
	errs = append(errs, validateEngines(c.Detection.Engines)...)
	for _, e := range Engines {
		field(e.Section, e.validate(c))
	}
	for _, s := range c.sections() {
		field(s.name, s.validate())
	}
	return errors.Join(errs...)
}

// within names err's field inside name, once per problem when err joins
// several (a section reports all its problems, not the first).
func within(name string, err error) []error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{fmt.Errorf("%s: %w", name, err)}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, within(name, e)...)
	}
	return out
}

func addr(a string) error {
	if a == "" {
		return errors.New("must not be empty")
	}
	return nil
}
