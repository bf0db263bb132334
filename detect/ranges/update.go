package ranges

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Source is one official URL that publishes (part of) a set.
type Source struct {
	// Set is the snapshot set the URL feeds; several sources may feed one
	// set (IPv4 and IPv6 lists, or an operator's per-bot lists merged).
	Set    string
	URL    string
	Format Format
	// Doc is the operator page that names URL, for attribution.
	Doc string
}

// Options tune Update. The zero value means the defaults.
type Options struct {
	// Timeout bounds each HTTP request (default 60 s).
	Timeout time.Duration
	// MaxBytes bounds each response body (default 64 MiB).
	MaxBytes int64
	// MinRatio refuses a set that shrank below this fraction of the same set
	// in the previous file (default 0.5; negative disables the check). A list
	// that suddenly lost half its prefixes is more likely a broken download
	// than a real change, and verifying bots against it would call real
	// crawlers spoofed.
	MinRatio float64
	// Partial writes the file even when some sets failed, keeping those
	// sets' previous contents. Without it any failure leaves the old file.
	Partial bool
	// UserAgent is sent with every request.
	UserAgent string
	// Now stamps the snapshot (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MinRatio == 0 {
		o.MinRatio = 0.5
	}
	if o.UserAgent == "" {
		o.UserAgent = "botwarden-update-ranges/1"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// SetResult reports what Update did with one set.
type SetResult struct {
	Set      string
	Sources  []string
	Prefixes int // in the new set (0 when it failed)
	Previous int // in the previous file (0 when it had none)
	Err      error
}

// Report is the outcome of an Update.
type Report struct {
	Sets    []SetResult
	Written bool   // the output file was replaced
	Note    string // e.g. why the previous file was not used as a baseline
}

// String renders the report as one line per set, for the command's output.
func (r Report) String() string {
	var b strings.Builder
	for _, s := range r.Sets {
		if s.Err != nil {
			fmt.Fprintf(&b, "%-24s FAILED (kept %d): %v\n", s.Set, s.Previous, s.Err)
			continue
		}
		fmt.Fprintf(&b, "%-24s %6d prefixes (was %d)\n", s.Set, s.Prefixes, s.Previous)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, "note: %s\n", r.Note)
	}
	if r.Written {
		b.WriteString("written\n")
	} else {
		b.WriteString("not written: the previous file is unchanged\n")
	}
	return b.String()
}

// Update fetches every source, parses and validates each set, and writes one
// snapshot to outFile atomically. Sets of the previous outFile that no source
// feeds are carried over. On any failure (HTTP error, unparseable body, empty
// set, a set shrunk below MinRatio) the previous file is left untouched and
// the joined errors are returned, unless opts.Partial is set.
func Update(ctx context.Context, client *http.Client, sources []Source, outFile string, opts Options) (Report, error) {
	opts = opts.withDefaults()
	var rep Report
	if client == nil {
		client = http.DefaultClient
	}
	if len(sources) == 0 {
		return rep, errors.New("update ranges: no sources")
	}
	if outFile == "" {
		return rep, errors.New("update ranges: no output file")
	}
	prev, err := Load(outFile)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		prev = nil
	default:
		// A corrupt previous file is replaced, but cannot serve as the
		// baseline for the shrink check nor contribute carried-over sets.
		rep.Note = fmt.Sprintf("previous file not used: %v", err)
		prev = nil
	}

	order, bySet := groupSources(sources)
	next := New()
	if prev != nil {
		next = prev.Overlay(nil)
	}
	now := opts.Now().UTC()
	var errs []error
	ok := 0
	for _, name := range order {
		res := SetResult{Set: name, Previous: prev.Len(name)}
		var all []netip.Prefix
		for _, src := range bySet[name] {
			res.Sources = append(res.Sources, src.URL)
			ps, err := fetch(ctx, client, src, opts)
			if err != nil {
				res.Err = errors.Join(res.Err, err)
				continue
			}
			all = append(all, ps...)
		}
		if res.Err == nil {
			all = normalize(all)
			res.Err = validate(name, len(all), res.Previous, opts.MinRatio)
		}
		if res.Err != nil {
			errs = append(errs, res.Err)
		} else {
			res.Prefixes = len(all)
			next.Sets[name] = &Set{Sources: res.Sources, Fetched: now, Prefixes: all}
			ok++
		}
		rep.Sets = append(rep.Sets, res)
	}
	if len(errs) > 0 && (!opts.Partial || ok == 0) {
		return rep, fmt.Errorf("update ranges: %s kept unchanged: %w", outFile, errors.Join(errs...))
	}
	next.Generated = now
	if err := next.WriteFile(outFile); err != nil {
		return rep, fmt.Errorf("update ranges: %w", err)
	}
	rep.Written = true
	return rep, nil
}

func groupSources(sources []Source) ([]string, map[string][]Source) {
	var order []string
	by := map[string][]Source{}
	for _, s := range sources {
		if _, seen := by[s.Set]; !seen {
			order = append(order, s.Set)
		}
		by[s.Set] = append(by[s.Set], s)
	}
	return order, by
}

func validate(name string, n, prev int, minRatio float64) error {
	if n == 0 {
		return fmt.Errorf("set %s: no prefixes", name)
	}
	if minRatio > 0 && prev > 0 && float64(n) < minRatio*float64(prev) {
		return fmt.Errorf("set %s: shrank from %d to %d prefixes (below %.0f%%); refusing", name, prev, n, minRatio*100)
	}
	return nil
}

func fetch(ctx context.Context, client *http.Client, src Source, opts Options) ([]netip.Prefix, error) {
	if !slices.Contains(Formats, src.Format) {
		return nil, fmt.Errorf("set %s: %s: unknown format %q", src.Set, src.URL, src.Format)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("set %s: %w", src.Set, err)
	}
	req.Header.Set("User-Agent", opts.UserAgent)
	req.Header.Set("Accept", "application/json, text/plain, text/csv;q=0.9, */*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("set %s: %w", src.Set, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("set %s: GET %s: HTTP %s", src.Set, src.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("set %s: GET %s: %w", src.Set, src.URL, err)
	}
	if int64(len(body)) > opts.MaxBytes {
		return nil, fmt.Errorf("set %s: GET %s: body larger than %d bytes", src.Set, src.URL, opts.MaxBytes)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") {
		return nil, fmt.Errorf("set %s: GET %s: got an HTML page (%s), not a range list", src.Set, src.URL, ct)
	}
	ps, err := ParseFormat(src.Format, body)
	if err != nil {
		return nil, fmt.Errorf("set %s: GET %s: %w", src.Set, src.URL, err)
	}
	return ps, nil
}
