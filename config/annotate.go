package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var lineRE = regexp.MustCompile(`^line (\d+): `)

// annotate rewrites yaml's "line N: cannot unmarshal ..." errors so that
// each names the dotted field path found at that line, e.g.
// "detection.budget (line 2): cannot unmarshal !!str `fast` into time.Duration".
func annotate(data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	paths := map[int]string{}
	walk(&root, "", paths)
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := lineRE.FindStringSubmatch(e)
		if m == nil {
			msgs = append(msgs, e)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		rest := e[len(m[0]):]
		if p, ok := paths[n]; ok {
			if hint, gone := removedKeys[p]; gone {
				rest = hint
			}
			msgs = append(msgs, fmt.Sprintf("%s (line %d): %s", p, n, rest))
		} else {
			msgs = append(msgs, e)
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// removedKeys are settings botwarden once had, with what to do instead: a
// file written for an older release fails saying so rather than with a bare
// "field not found".
var removedKeys = map[string]string{
	"verified.enabled": offByList("verified"),
	"network.enabled":  offByList("network"),
	"ml.enabled":       offByList("ml"),
}

func offByList(engine string) string {
	return fmt.Sprintf("removed: an engine runs when detection.engines lists it; to turn %s off, leave %q out of detection.engines", engine, engine)
}

// walk records, for each line holding a mapping key or a sequence item, the
// dotted path of the field defined there.
func walk(n *yaml.Node, path string, out map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			out[k.Line] = p
			if v.Line != k.Line || v.Kind != yaml.ScalarNode {
				walk(v, p, out)
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if _, taken := out[c.Line]; !taken {
				out[c.Line] = p
			}
			walk(c, p, out)
		}
	}
}
