package readmetest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// linkRE finds Markdown inline links: [text](target).
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// BrokenLinks lists the relative links in the Markdown files under root that
// point at a file that does not exist, or at a heading that the target file
// does not have (GitHub's anchor rules). Links with a scheme are not
// followed: the repository must explain itself without the network, but
// whether a web page still exists is not a test's business.
func BrokenLinks(root string) ([]string, error) {
	var broken []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "bin":
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".md") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range linkRE.FindAllStringSubmatch(stripCode(string(raw)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			dest := path
			if file != "" {
				dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
			}
			rel, _ := filepath.Rel(root, path)
			if _, err := os.Stat(dest); err != nil {
				broken = append(broken, fmt.Sprintf("%s: %s: no such file", rel, target))
				continue
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			doc, err := os.ReadFile(dest)
			if err != nil {
				return err
			}
			if !anchors(string(doc))[anchor] {
				broken = append(broken, fmt.Sprintf("%s: %s: no such heading", rel, target))
			}
		}
		return nil
	})
	return broken, err
}

// stripCode removes fenced code blocks and inline code spans, where a
// "](...)" is code, not a link.
func stripCode(doc string) string {
	var out strings.Builder
	fence := false
	for _, line := range strings.SplitAfter(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		parts := strings.Split(line, "`")
		for i := 0; i < len(parts); i += 2 {
			out.WriteString(parts[i])
		}
	}
	return out.String()
}

// anchors returns the heading anchors of a Markdown document as GitHub
// derives them: lower case, punctuation other than '-' and '_' dropped,
// spaces turned into '-', repeats numbered -1, -2, ...
func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	fence := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		base := b.String()
		slug := base
		for i := 1; out[slug]; i++ {
			slug = fmt.Sprintf("%s-%d", base, i)
		}
		out[slug] = true
	}
	return out
}
