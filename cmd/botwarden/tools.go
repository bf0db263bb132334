package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect/catalogue"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/detect/ranges"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/verified"
	"github.com/botwarden/botwarden/internal/atomicfile"
	"github.com/botwarden/botwarden/replay"
)

// replayCmd feeds recorded access logs through the behavioural analysis and
// prints the verdicts it would publish.
func replayCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per verdict")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: botwarden replay [-config FILE] [-json] FILE... (Envoy JSON access-log lines or combined log format; - for stdin; .gz ok)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	cfg, err := config.Load(*path, nil)
	if err != nil {
		return err
	}
	rc := replay.DefaultConfig()
	rc.Behavior = cfg.Behavior
	rc.JSON = *asJSON
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return replay.Run(ctx, fs.Args(), stdout, rc)
}

// trainCmd builds a model from labelled requests (JSON lines) and reports
// its metrics on a held-out file when given.
func trainCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "model.json", "where to write the model (load it with ml.model_file)")
	heldOut := fs.String("eval", "", "labelled JSON lines to report held-out metrics on")
	epochs := fs.Int("epochs", 0, "training epochs (0: default)")
	version := fs.String("version", "", "version string recorded in the model")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: botwarden train [-out FILE] [-eval FILE] TRAIN.jsonl")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return flag.ErrHelp
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	model, err := ml.Train(f, ml.TrainOptions{Epochs: *epochs, Version: *version})
	if err != nil {
		return fmt.Errorf("train %s: %w", fs.Arg(0), err)
	}
	if *heldOut != "" {
		hf, err := os.Open(*heldOut)
		if err != nil {
			return err
		}
		defer hf.Close()
		examples, err := ml.ReadExamples(hf)
		if err != nil {
			return fmt.Errorf("read %s: %w", *heldOut, err)
		}
		m, err := ml.Evaluate(model, examples)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(m)
		fmt.Fprintf(stdout, "held-out %s: %s\n", *heldOut, b)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf); err != nil {
		return err
	}
	return atomicfile.Write(*out, buf.Bytes())
}

// updateRangesCmd refreshes the verified-bot and network range snapshot
// from the operators' official URLs.
func updateRangesCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("update-ranges", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "ranges.json", "snapshot file to write (set verified.ranges_file and network.ranges_file to it)")
	partial := fs.Bool("partial", false, "write even if some sources failed, keeping their previous sets")
	timeout := fs.Duration("timeout", 60*time.Second, "per-request timeout")
	list := fs.Bool("list", false, "only print the sources")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sources := append(verified.Sources(), network.Sources()...)
	if *list {
		for _, s := range sources {
			fmt.Fprintf(stdout, "%-24s %-8s %s\n", s.Set, s.Format, s.URL)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	report, err := ranges.Update(ctx, &http.Client{}, sources, *out, ranges.Options{Timeout: *timeout, Partial: *partial, UserAgent: "botwarden/" + version})
	fmt.Fprintln(stdout, report)
	if err != nil {
		return fmt.Errorf("update-ranges (previous %s kept): %w", *out, err)
	}
	return nil
}

// tokenCmd helps operate the session cookie: generate keys, inspect a cookie.
func tokenCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: botwarden token keygen | botwarden token inspect [-config FILE] COOKIE")
		return flag.ErrHelp
	}
	switch args[0] {
	case "keygen":
		// 32 random bytes: an AES-256 session key or an HMAC challenge secret.
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(k[:]))
		return nil
	case "inspect":
		fs := flag.NewFlagSet("token inspect", flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := configFlag(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("usage: botwarden token inspect [-config FILE] COOKIE")
		}
		cfg, err := config.Load(*path, nil)
		if err != nil {
			return err
		}
		if len(cfg.Session.Keys) == 0 {
			return errors.New("session.keys is empty: a cookie sealed by a random per-process key cannot be opened here")
		}
		m, err := session.New(cfg.Session, zerolog.Nop(), nil)
		if err != nil {
			return err
		}
		c, err := m.Open(fs.Arg(0), time.Now())
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"session_id": c.SessionID.String(), "issued_at": time.Unix(c.IssuedAt, 0).UTC(), "expiry": time.Unix(c.Expiry, 0).UTC(),
			"score": c.Score, "flags": c.Flags, "attempts": c.Attempts, "findings": session.DecodeFindings(c.Findings, nil),
			"ip_prefix": c.IPPrefix.String(), "ua_hash": fmt.Sprintf("%016x", c.UAHash), "key_id": c.KeyID,
		})
	}
	return fmt.Errorf("unknown token command %q", args[0])
}

// detectionsCmd prints the detection catalogue (what BotDetectionIDs mean).
func detectionsCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return errors.New("usage: botwarden detections")
	}
	for _, e := range catalogue.All() {
		fmt.Fprintf(stdout, "%6d  %-10s  %-28s  %s\n", e.ID, e.Engine, e.Name, e.Description)
	}
	return nil
}
