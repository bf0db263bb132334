// Command botwarden is self-hosted bot management for Envoy and Istio.
//
//	botwarden serve [-config FILE]        run the decision server
//	botwarden check-config FILE           validate a configuration file
//	botwarden replay FILE...              replay access logs through the analysis
//	botwarden train TRAIN.jsonl           train the per-request model
//	botwarden update-ranges               refresh the verified-bot/network ranges
//	botwarden token keygen|inspect        session-cookie keys and inspection
//	botwarden detections                  list every detection ID with its description
//	botwarden analytics top|events ...     query stored decisions on the admin listener
//	botwarden version                     print the version
//
// Every subcommand prints its own flags with -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the decision server (ext_authz gRPC, ALS, HTTP authz)", serve},
		{"check-config", "validate a configuration file and its policy", checkConfig},
		{"replay", "feed recorded access logs through the behavioural analysis", replayCmd},
		{"train", "train the per-request ML model from labelled JSON lines", trainCmd},
		{"update-ranges", "refresh verified-bot and network ranges from the official URLs", updateRangesCmd},
		{"token", "generate keys, inspect a session cookie", tokenCmd},
		{"detections", "list every detection ID with its description", detectionsCmd},
		{"analytics", "query stored decisions: top, events, histogram, verdicts, feedback", analyticsCmd},
		{"version", "print the version", versionCmd},
	}
}

func versionCmd(_ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprintln(stdout, version)
	return err
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands() {
		if c.name == args[0] {
			if err := c.run(args[1:], stdout, stderr); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return 2
				}
				fmt.Fprintf(stderr, "botwarden %s: %v\n", c.name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "botwarden: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: botwarden COMMAND [flags]\n\ncommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
}

// configPath returns -config, or $BOTWARDEN_CONFIG, or "" for defaults.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv("BOTWARDEN_CONFIG"), "configuration file (default: embedded defaults; env BOTWARDEN_CONFIG)")
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, nil)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP re-reads the policy and the range snapshots without a restart.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				srv.Reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	return srv.Serve(ctx)
}

func checkConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: botwarden check-config FILE")
	}
	cfg, err := config.Load(fs.Arg(0), nil)
	if err != nil {
		return err
	}
	// Building the server compiles the policy and loads every data file,
	// exactly as serve would, without binding a port.
	srv, err := server.New(cfg, zerolog.Nop())
	if err != nil {
		return err
	}
	srv.Close()
	fmt.Fprintf(stdout, "%s: ok\n", fs.Arg(0))
	return nil
}

func newLogger(c config.Log, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log.level: %w", err)
	}
	if c.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("service", "botwarden").Logger(), nil
}
