package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/botwarden/botwarden/detect/ratelimit"
)

// fileSpec is the policy file as written.
type fileSpec struct {
	Version int               `yaml:"version"`
	Mode    string            `yaml:"mode"`
	Hosts   map[string]string `yaml:"hosts"`
	Presets []string          `yaml:"presets"`
	Rules   []ruleSpec        `yaml:"rules"`
}

// presetSpec is an embedded preset file.
type presetSpec struct {
	Description string     `yaml:"description"`
	Order       int        `yaml:"order"`
	Rules       []ruleSpec `yaml:"rules"`
}

type ruleSpec struct {
	ID          string         `yaml:"id"`
	Description string         `yaml:"description"`
	Expression  string         `yaml:"expression"`
	Action      string         `yaml:"action"`
	Enabled     *bool          `yaml:"enabled"`
	RateLimit   *rateLimitSpec `yaml:"rate_limit"`
	Challenge   *challengeSpec `yaml:"challenge"`

	line int // set from the YAML node, for error messages
}

type rateLimitSpec struct {
	// Key is ip, session, ja4 or header:<name>; KeyExpression is a CEL
	// expression returning the key string. Exactly one of them.
	Key             string `yaml:"key"`
	KeyExpression   string `yaml:"key_expression"`
	ratelimit.Limit `yaml:",inline"`
}

type challengeSpec struct {
	Difficulty int `yaml:"difficulty"`
}

// Problem is one thing wrong with a policy file.
type Problem struct {
	Line  int    // 1-based line in the file, 0 when unknown
	Rule  string // rule id, "" for file-level problems
	Field string // field name, e.g. "expression"
	Msg   string
}

func (p Problem) String() string {
	where := strings.TrimSpace(fmt.Sprintf("%s %s", quoteRule(p.Rule), p.Field))
	switch {
	case where != "" && p.Line > 0:
		where = fmt.Sprintf("%s (line %d)", where, p.Line)
	case p.Line > 0:
		where = fmt.Sprintf("line %d", p.Line)
	}
	if where == "" {
		return p.Msg
	}
	return where + ": " + p.Msg
}

func quoteRule(id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf("rule %q", id)
}

// LoadError lists every problem found in a policy file, so that one run of
// check-config shows them all.
type LoadError struct {
	Source   string
	Problems []Problem
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %s: %d problem", e.Source, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(p.String(), "\n", "\n    "))
	}
	return b.String()
}

// maxFileSize bounds a policy file; real ones are a few KiB.
const maxFileSize = 1 << 20

// decodeStrict decodes one YAML document into out, rejecting unknown
// fields, and records each rule's line. Errors are Problems with lines.
func decodeStrict(data []byte, out any) []Problem {
	if len(data) > maxFileSize {
		return []Problem{{Msg: fmt.Sprintf("file is %d bytes, more than the %d allowed", len(data), maxFileSize)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is an empty policy
		}
		return yamlProblems(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return []Problem{{Line: extra.Line, Msg: "more than one YAML document; a policy is one document"}}
	}
	// Second pass over the node tree for rule positions (the decoder above
	// does not expose them).
	var root yaml.Node
	if yaml.Unmarshal(data, &root) == nil {
		setRuleLines(&root, out)
	}
	return nil
}

func setRuleLines(root *yaml.Node, out any) {
	var rules []ruleSpec
	switch s := out.(type) {
	case *fileSpec:
		rules = s.Rules
	case *presetSpec:
		rules = s.Rules
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "rules" || doc.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range doc.Content[i+1].Content {
			if j < len(rules) {
				rules[j].line = item.Line
			}
		}
	}
}

var (
	yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)
	// yaml names our Go types in its messages; say what the user wrote.
	typeNames = strings.NewReplacer(
		"type policy.fileSpec", "the policy",
		"type policy.presetSpec", "the preset",
		"type policy.ruleSpec", "a rule",
		"type policy.rateLimitSpec", "rate_limit",
		"type policy.challengeSpec", "challenge",
		"type ratelimit.Limit", "rate_limit",
	)
)

func yamlProblems(err error) []Problem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		p := Problem{}
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			m = m[len(sm[0]):]
		}
		m = strings.TrimPrefix(m, "yaml: ")
		p.Msg = typeNames.Replace(m)
		out = append(out, p)
	}
	return out
}
