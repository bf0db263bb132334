package gateway

import (
	"fmt"
	"strings"
)

// formatter is the subset of Envoy's substitution format strings that
// header mutations in this repository use. Anything else is refused at
// compile time rather than passed through as text.
type formatter struct{ parts []fpart }

type fpart struct {
	literal string
	op      string // "" for a literal
	arg     string
}

// formatOps are the command operators reproduced.
var formatOps = map[string]bool{
	"TLS_JA4_FINGERPRINT":                    true,
	"TLS_JA3_FINGERPRINT":                    true,
	"REQ":                                    true,
	"DOWNSTREAM_REMOTE_ADDRESS":              true,
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": true,
}

func parseFormatter(s string) (*formatter, error) {
	f := &formatter{}
	for s != "" {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			f.parts = append(f.parts, fpart{literal: s})
			break
		}
		if i > 0 {
			f.parts = append(f.parts, fpart{literal: s[:i]})
		}
		s = s[i+1:]
		if strings.HasPrefix(s, "%") { // "%%" is a literal percent
			f.parts = append(f.parts, fpart{literal: "%"})
			s = s[1:]
			continue
		}
		j := strings.IndexByte(s, '%')
		if j < 0 {
			return nil, fmt.Errorf("format %q: unterminated command operator", s)
		}
		cmd := s[:j]
		s = s[j+1:]
		op, arg := cmd, ""
		if k := strings.IndexByte(cmd, '('); k >= 0 && strings.HasSuffix(cmd, ")") {
			op, arg = cmd[:k], cmd[k+1:len(cmd)-1]
		}
		if !formatOps[op] {
			return nil, fmt.Errorf("command operator %%%s%% is not reproduced", cmd)
		}
		f.parts = append(f.parts, fpart{op: op, arg: strings.ToLower(arg)})
	}
	return f, nil
}

// format renders the string for s. A missing value renders empty, which
// makes a header mutation skip the header (unless keep_empty_value).
func (f *formatter) format(s *Stream) string {
	var b strings.Builder
	for _, p := range f.parts {
		switch p.op {
		case "":
			b.WriteString(p.literal)
		case "TLS_JA4_FINGERPRINT":
			b.WriteString(s.Fingerprints.JA4)
		case "TLS_JA3_FINGERPRINT":
			b.WriteString(s.Fingerprints.JA3)
		case "REQ":
			// %REQ(A?B)%: header A, else header B.
			for _, name := range strings.Split(p.arg, "?") {
				if v, ok := s.Headers.Get(name); ok {
					b.WriteString(v)
					break
				}
			}
		case "DOWNSTREAM_REMOTE_ADDRESS":
			b.WriteString(s.Client.String())
		case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
			b.WriteString(s.Client.Addr().String())
		}
	}
	return b.String()
}
