package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// analyticsCmd queries the admin listener's /api/v1 with the same filter
// language as the dashboard: `botwarden analytics top --by user_agent
// --since 1h --score-below 30`; `report` files a feedback report about
// what the filter selects, a request or a client key.
func analyticsCmd(args []string, stdout, stderr io.Writer) error {
	const sub = "top, events, histogram, verdicts, feedback, report, training"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "usage: botwarden analytics {%s} [flags]\n", sub)
		return flag.ErrHelp
	}
	what := args[0]
	fs := flag.NewFlagSet("analytics "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", envOr("BOTWARDEN_ADMIN_URL", "http://127.0.0.1:9090"), "admin listener base URL (env BOTWARDEN_ADMIN_URL)")
	token := fs.String("token", os.Getenv("BOTWARDEN_ADMIN_TOKEN"), "admin token (env BOTWARDEN_ADMIN_TOKEN)")
	filter := fs.String("filter", "", "more filter terms in the filter language, e.g. 'host=shop.example.com&tag=headless'")
	since := fs.String("since", "", "time range back from now: 30m, 1h, 7d (default 1h)")
	from := fs.String("from", "", "range start, RFC 3339 or unix seconds")
	to := fs.String("to", "", "range end, RFC 3339 or unix seconds")
	score := fs.String("score", "", "score or range, e.g. 1-29")
	below := fs.Int("score-below", 0, "scores below this (1 up to it)")
	above := fs.Int("score-above", 0, "scores above this")
	by := fs.String("by", "user_agent", "attribute for top (user_agent, ip, prefix, asn, country, host, path, ja4, detection_id, tag, ...)")
	limit := fs.Int("limit", 0, "rows (default 10 for top, 50 for events)")
	page := fs.String("page", "", "events: page token printed by the previous page")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	var fr struct {
		Kind        string `json:"kind"`
		Ref         string `json:"ray_id,omitempty"`
		Key         string `json:"key,omitempty"`
		Abuse       string `json:"abuse,omitempty"`
		Description string `json:"description,omitempty"`
		TTL         string `json:"ttl,omitempty"`
		Score       int    `json:"score,omitempty"`
	}
	if what == "report" {
		fs.StringVar(&fr.Kind, "kind", "", "report: false_positive (a human was stopped) or false_negative (a bot got through)")
		fs.StringVar(&fr.Key, "key", "", "report: the client it is about: ip:ADDR, net:PREFIX, session:ID, ja4:FINGERPRINT (applies an exemption or a verdict)")
		fs.StringVar(&fr.Ref, "ray-id", "", "report: the request it is about (its client address is the key unless -key is given)")
		fs.StringVar(&fr.TTL, "ttl", "", "report: how long the exemption or verdict lasts, 1m to 720h (default 24h)")
		fs.IntVar(&fr.Score, "verdict-score", 0, "report: a false negative's verdict score, 1-29 (default 1)")
		fs.StringVar(&fr.Abuse, "abuse", "", "report: false negative's kind of abuse (scraping, credential_stuffing, inventory_hoarding, card_testing, spam, ddos, other)")
		fs.StringVar(&fr.Description, "description", "", "report: what happened")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	q, err := url.ParseQuery(*filter)
	if err != nil {
		return fmt.Errorf("-filter: %w", err)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("since", *since)
	set("from", *from)
	set("to", *to)
	set("score", *score)
	if *below != 0 {
		set("score_below", strconv.Itoa(*below))
	}
	if *above != 0 {
		set("score_above", strconv.Itoa(*above))
	}
	if *limit != 0 {
		set("limit", strconv.Itoa(*limit))
	}
	var endpoint string
	switch what {
	case "top":
		endpoint = "top"
		set("by", *by)
	case "events":
		endpoint = "events"
		set("page", *page)
	case "histogram", "verdicts", "feedback", "training":
		endpoint = what
	case "report":
		endpoint = "feedback"
	default:
		return fmt.Errorf("unknown subcommand %q (one of %s)", what, sub)
	}
	var send []byte
	if what == "report" {
		if fr.Kind == "" {
			return errors.New("report: -kind is required (false_positive or false_negative)")
		}
		send, _ = json.Marshal(fr)
	}
	body, err := adminRequest(*admin, *token, endpoint, q, send)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	return printAnswer(stdout, what, body)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// adminRequest GETs endpoint, or POSTs send as JSON when it is not nil.
func adminRequest(base, token, endpoint string, q url.Values, send []byte) ([]byte, error) {
	u := strings.TrimSuffix(base, "/") + "/api/v1/" + endpoint + "?" + q.Encode()
	method, rd := http.MethodGet, io.Reader(nil)
	if send != nil {
		method, rd = http.MethodPost, bytes.NewReader(send)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("-admin: %w", err)
	}
	if send != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("admin listener: HTTP %d", resp.StatusCode)
	}
	return body, nil
}

// printAnswer prints an answer as an aligned table (events: one line per
// request with the fields people read first).
func printAnswer(w io.Writer, what string, body []byte) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	switch what {
	case "top", "histogram":
		var a struct {
			Rows []struct {
				Value string
				Count int64
				Text  string
			}
			Interval95 float64
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		fmt.Fprintln(tw, "COUNT\tVALUE")
		for _, r := range a.Rows {
			line := fmt.Sprintf("%d\t%s", r.Count, strconv.Quote(r.Value))
			if r.Text != "" {
				line += "\t" + r.Text
			}
			fmt.Fprintln(tw, line)
		}
		if a.Interval95 > 0 {
			fmt.Fprintf(tw, "sampled: counts ±%.0f at 95%% confidence\n", a.Interval95)
		}
	case "events":
		var a struct {
			Records []map[string]any
			Next    string
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		fmt.Fprintln(tw, "TIME\tRAYID\tSCORE\tSOURCE\tACTION\tRULE\tIP\tHOST\tPATH\tUSER AGENT")
		for _, r := range a.Records {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\t%q\t%q\t%q\n", r["EdgeStartTimestamp"], r["RayID"], r["BotScore"], r["BotScoreSrc"],
				r["BotAction"], r["BotRuleID"], r["ClientIP"], r["ClientRequestHost"], r["ClientRequestPath"], r["ClientRequestUserAgent"])
		}
		if a.Next != "" {
			fmt.Fprintf(tw, "next page: --page %s\n", a.Next)
		}
	default: // verdicts, feedback, report: the JSON is the clearest form; training: JSON lines for botwarden train
		_, err := w.Write(body)
		return err
	}
	return nil
}
