// Package replay feeds recorded access logs through the behavioural
// analysis, with the events' own times as the clock, and prints the
// verdicts it would publish (botwarden replay FILE...). It reads Envoy JSON
// access-log lines and the Apache/nginx combined (or common) log format.
package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/botwarden/botwarden/detect"
)

// Envoy JSON lines: one object per line, as Envoy's json_format writes
// them. Each event field is read from the first key present of its list;
// the first names are the ones envoy/envoy.yaml logs, the others Envoy's
// default-format names and the Logpush names (detect/fields.go). Values
// "-" and "" mean absent (Envoy logs "-" for a missing operator).
//
//	time        %START_TIME% (RFC 3339)              time, start_time, timestamp, @timestamp
//	client      %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% client, client_ip, downstream_remote_address, ClientIP
//	method      %REQ(:METHOD)%                       method
//	authority   %REQ(:AUTHORITY)%                    authority, host
//	path        %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%   path
//	protocol    %PROTOCOL%                           protocol
//	status      %RESPONSE_CODE%                      status, response_code
//	flags       %RESPONSE_FLAGS%                     flags, response_flags
//	duration_ms %DURATION%                           duration_ms, duration
//	bytes_received, bytes_sent                       %BYTES_RECEIVED%, %BYTES_SENT%
//	user_agent  %REQ(USER-AGENT)%                    user_agent
//	referer     %REQ(REFERER)%                       referer
//	request_id  %REQ(X-REQUEST-ID)%                  request_id
//	ja3, ja4    %TLS_JA3_FINGERPRINT%, %TLS_JA4_FINGERPRINT%
//	content_type %RESP(CONTENT-TYPE)%                content_type
//	bot_score   %DYNAMIC_METADATA(envoy.filters.http.ext_authz:BotScore)%     bot_score, BotScore
//	bot_score_src, bot_tags, bot_action, bot_rule, bot_session               (and BotScoreSrc, BotTags, BotAction, BotRuleID, BotSessionID)
//	headers     req_<name> (e.g. req_accept_language: %REQ(ACCEPT-LANGUAGE)%) become request headers
var jsonFields = map[string][]string{
	"time":          {"time", "start_time", "timestamp", "@timestamp"},
	"client":        {"client", "client_ip", "downstream_remote_address", detect.FieldClientIP},
	"method":        {"method"},
	"authority":     {"authority", "host"},
	"path":          {"path"},
	"protocol":      {"protocol"},
	"status":        {"status", "response_code"},
	"flags":         {"flags", "response_flags"},
	"duration":      {"duration_ms", "duration"},
	"bytes_in":      {"bytes_received"},
	"bytes_out":     {"bytes_sent"},
	"user_agent":    {"user_agent"},
	"referer":       {"referer"},
	"request_id":    {"request_id"},
	"ja3":           {"ja3"},
	"ja4":           {"ja4", detect.FieldJA4},
	"content_type":  {"content_type"},
	"bot_score":     {"bot_score", detect.FieldBotScore},
	"bot_score_src": {"bot_score_src", detect.FieldBotScoreSrc},
	"bot_tags":      {"bot_tags", detect.FieldBotTags},
	"bot_action":    {"bot_action", detect.FieldAction},
	"bot_rule":      {"bot_rule", detect.FieldRuleID},
	"bot_session":   {"bot_session", detect.FieldSessionID},
}

// Limits on one line's content.
const (
	maxLine   = 64 << 10
	maxValue  = 8192
	maxTags   = 32
	headerKey = "req_"
)

// Errors for lines that are not events.
var (
	ErrEmpty   = errors.New("empty line")
	ErrSyntax  = errors.New("not an access-log line")
	ErrTooLong = errors.New("line too long")
)

// ParseLine parses one log line, Envoy JSON or combined/common format,
// into an event. Lines are untrusted: every value is checked and cut.
func ParseLine(line []byte) (*detect.Event, error) {
	line = bytes.TrimSpace(line)
	switch {
	case len(line) == 0 || line[0] == '#':
		return nil, ErrEmpty
	case len(line) > maxLine:
		return nil, ErrTooLong
	case line[0] == '{':
		return parseJSON(line)
	default:
		return parseCombined(line)
	}
}

func parseJSON(line []byte) (*detect.Event, error) {
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	get := func(field string) any {
		for _, k := range jsonFields[field] {
			if v, ok := m[k]; ok && v != nil && v != "-" && v != "" {
				return v
			}
		}
		return nil
	}
	str := func(field string) string {
		switch v := get(field).(type) {
		case string:
			return clean(v)
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return ""
	}
	num := func(field string) (float64, bool) {
		switch v := get(field).(type) {
		case float64:
			return v, !math.IsNaN(v) && !math.IsInf(v, 0)
		case string:
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
		}
		return 0, false
	}
	ev := &detect.Event{
		Method: strings.ToUpper(str("method")), Host: strings.ToLower(str("authority")), Path: str("path"),
		Protocol: str("protocol"), UserAgent: str("user_agent"), Referer: str("referer"), RequestID: str("request_id"),
		JA3: str("ja3"), JA4: str("ja4"), ContentType: str("content_type"), BotScoreSrc: str("bot_score_src"),
		Action: str("bot_action"), RuleID: str("bot_rule"), SessionID: str("bot_session"),
	}
	ts := str("time")
	if ts == "" {
		return nil, fmt.Errorf("%w: no time", ErrSyntax)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, fmt.Errorf("%w: time %q", ErrSyntax, ts)
	}
	ev.Time = t
	ev.ClientIP = parseAddr(str("client"))
	if s, ok := num("status"); ok && s >= 100 && s <= 999 {
		ev.Status = int(s)
	}
	if d, ok := num("duration"); ok && d >= 0 && d <= float64(24*time.Hour/time.Millisecond) {
		ev.Duration = time.Duration(d * float64(time.Millisecond))
	}
	if b, ok := num("bytes_in"); ok && b >= 0 && b < 1<<53 {
		ev.RequestBytes = uint64(b)
	}
	if b, ok := num("bytes_out"); ok && b >= 0 && b < 1<<53 {
		ev.ResponseBytes = uint64(b)
	}
	if s, ok := num("bot_score"); ok && s >= 0 && s <= detect.ScoreMax {
		ev.BotScore = int(s)
	}
	if f := str("flags"); f != "" {
		ev.ResponseFlags = splitList(f)
	}
	switch v := get("bot_tags").(type) {
	case string:
		ev.BotTags = splitList(v)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok && s != "" && len(ev.BotTags) < maxTags {
				ev.BotTags = append(ev.BotTags, clean(s))
			}
		}
	}
	for k, v := range m {
		if name, ok := strings.CutPrefix(k, headerKey); ok && name != "" {
			if s, ok := v.(string); ok && s != "-" && s != "" {
				if ev.Headers == nil {
					ev.Headers = detect.Headers{}
				}
				if len(ev.Headers) < 64 {
					ev.Headers[strings.ToLower(strings.ReplaceAll(clean(name), "_", "-"))] = clean(s)
				}
			}
		}
	}
	if ev.UserAgent == "" {
		ev.UserAgent = ev.Headers.Get("user-agent")
	}
	return ev, nil
}

// splitList splits Envoy's comma-separated lists (response flags, tags).
func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" && len(out) < maxTags {
			out = append(out, p)
		}
	}
	return out
}

// parseAddr accepts an address with or without a port ("[::1]:80").
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap()
	}
	return netip.Addr{}
}

// clean cuts a value and repairs invalid UTF-8.
func clean(s string) string {
	if len(s) > maxValue {
		n := maxValue
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// combined/common log format:
//
//	host ident authuser [02/Jan/2006:15:04:05 -0700] "GET /path HTTP/1.1" status bytes "referer" "user-agent"
//
// The referer and user agent are optional (common log format). nginx
// escapes quotes inside strings as \x22, Apache as \".
const clfTime = "02/Jan/2006:15:04:05 -0700"

func parseCombined(line []byte) (*detect.Event, error) {
	s := string(line)
	var fields []string
	for len(s) > 0 && len(fields) < 9 {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		var f string
		switch s[0] {
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated [", ErrSyntax)
			}
			f, s = s[1:end], s[end+1:]
		case '"':
			v, rest, ok := quoted(s)
			if !ok {
				return nil, fmt.Errorf("%w: unterminated quote", ErrSyntax)
			}
			f, s = v, rest
		default:
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			f, s = s[:end], s[end:]
		}
		fields = append(fields, f)
	}
	if len(fields) < 7 {
		return nil, fmt.Errorf("%w: %d fields", ErrSyntax, len(fields))
	}
	t, err := time.Parse(clfTime, fields[3])
	if err != nil {
		return nil, fmt.Errorf("%w: time %q", ErrSyntax, fields[3])
	}
	ev := &detect.Event{Time: t, ClientIP: parseAddr(fields[0])}
	if !ev.ClientIP.IsValid() {
		return nil, fmt.Errorf("%w: client %q", ErrSyntax, clean(fields[0]))
	}
	req := strings.Fields(fields[4])
	if len(req) >= 2 {
		ev.Method, ev.Path = clean(strings.ToUpper(req[0])), clean(req[1])
	}
	if len(req) >= 3 {
		ev.Protocol = clean(req[2])
	}
	if st, err := strconv.Atoi(fields[5]); err == nil && st >= 100 && st <= 999 {
		ev.Status = st
	}
	if b, err := strconv.ParseUint(fields[6], 10, 53); err == nil {
		ev.ResponseBytes = b
	}
	if len(fields) >= 8 && fields[7] != "-" {
		ev.Referer = clean(fields[7])
	}
	if len(fields) >= 9 && fields[8] != "-" {
		ev.UserAgent = clean(fields[8])
	}
	return ev, nil
}

// quoted reads a "..." string at the start of s, undoing \" and \x22.
func quoted(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], true
		case c == '\\' && i+1 < len(s):
			i++
			switch {
			case s[i] == 'x' && i+2 < len(s):
				if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
					b.WriteByte(byte(n))
					i += 2
					continue
				}
				b.WriteString(`\x`)
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}
