package replay

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/detect/reputation"
)

// Config configures a replay.
type Config struct {
	// Behavior is the analysis configuration (the server's, normally).
	// Replay always runs it synchronously (workers: 0) so that the output
	// is deterministic.
	Behavior behavior.Config `yaml:"behavior"`
	// JSON prints one JSON object per verdict instead of text lines.
	JSON bool `yaml:"json"`
	// MaxErrors is how many bad lines are reported individually.
	MaxErrors int `yaml:"max_errors"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Behavior: behavior.DefaultConfig(), MaxErrors: 10} }

// Validate reports invalid fields, named by their YAML path.
func (c Config) Validate() error {
	c.Behavior.Workers = 0
	if err := c.Behavior.Validate(); err != nil {
		return fmt.Errorf("behavior: %w", err)
	}
	if c.MaxErrors < 0 {
		return fmt.Errorf("max_errors: must not be negative, got %d", c.MaxErrors)
	}
	return nil
}

// Stats counts what a replay read.
type Stats struct {
	Files, Lines, Events, Skipped, Bad, Verdicts int
}

// Run replays files ("-" is standard input; ".gz" files are decompressed)
// in order through the behavioural analysis, printing every verdict it
// would publish to out, then a summary line. Bad lines are counted and the
// first MaxErrors reported; an unreadable file is an error.
func Run(ctx context.Context, files []string, out io.Writer, cfg Config) error {
	_, err := run(ctx, files, os.Stdin, out, cfg)
	return err
}

func run(ctx context.Context, files []string, stdin io.Reader, out io.Writer, cfg Config) (Stats, error) {
	var st Stats
	if err := cfg.Validate(); err != nil {
		return st, fmt.Errorf("replay: %w", err)
	}
	cfg.Behavior.Workers = 0
	w := bufio.NewWriter(out)
	defer w.Flush()
	var clock time.Time // the time of the event being analysed
	var werr error
	eng, err := behavior.New(cfg.Behavior, zerolog.Nop(), nil, nil,
		behavior.WithClock(func() time.Time { return clock }),
		behavior.WithObserver(func(v reputation.Verdict, _ time.Duration) {
			st.Verdicts++
			if err := printVerdict(w, clock, v, cfg.JSON); err != nil && werr == nil {
				werr = err
			}
		}))
	if err != nil {
		return st, fmt.Errorf("replay: %w", err)
	}
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.Files++
		err := readFile(ctx, name, stdin, func(lineNo int, line []byte) {
			st.Lines++
			ev, err := ParseLine(line)
			switch {
			case errors.Is(err, ErrEmpty):
				st.Skipped++
				return
			case err != nil:
				st.Bad++
				if st.Bad <= cfg.MaxErrors {
					fmt.Fprintf(w, "# %s:%d: %v\n", name, lineNo, err)
				}
				return
			}
			st.Events++
			if ev.Time.After(clock) {
				clock = ev.Time
			}
			eng.Offer(ev)
		})
		if err != nil {
			return st, fmt.Errorf("replay: %s: %w", name, err)
		}
		if werr != nil {
			return st, fmt.Errorf("replay: write: %w", werr)
		}
	}
	fmt.Fprintf(w, "# replay: files=%d lines=%d events=%d skipped=%d bad=%d verdicts=%d\n",
		st.Files, st.Lines, st.Events, st.Skipped, st.Bad, st.Verdicts)
	if err := w.Flush(); err != nil {
		return st, fmt.Errorf("replay: write: %w", err)
	}
	return st, nil
}

// readFile calls fn for every line of name; lines longer than maxLine are
// passed on cut (and then fail to parse) rather than ending the read.
func readFile(ctx context.Context, name string, stdin io.Reader, fn func(int, []byte)) error {
	var r io.Reader
	if name == "-" {
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
		if strings.HasSuffix(name, ".gz") {
			gz, err := gzip.NewReader(f)
			if err != nil {
				return err
			}
			defer gz.Close()
			r = gz
		}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for n := 1; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Keep at most maxLine+1 bytes of an overlong line, skip the rest.
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if len(long) <= maxLine {
					long = append(long, line[:min(len(line), maxLine+1-len(long))]...)
				}
			}
			line = long
		}
		if len(line) > 0 {
			fn(n, line)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func printVerdict(w io.Writer, at time.Time, v reputation.Verdict, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(struct {
			Time   time.Time `json:"time"`
			Key    string    `json:"key"`
			Score  int       `json:"score"`
			Source string    `json:"source"`
			Tags   []string  `json:"tags"`
			Expiry time.Time `json:"expiry"`
		}{at, v.Key, v.Score, string(v.Source), v.Tags, v.Expiry})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(w, "%s %s score=%d source=%s tags=%s expires=%s\n", at.UTC().Format(time.RFC3339Nano),
		v.Key, v.Score, v.Source, strings.Join(v.Tags, ","), v.Expiry.UTC().Format(time.RFC3339))
	return err
}
