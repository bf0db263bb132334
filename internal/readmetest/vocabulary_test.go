package readmetest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/catalogue"
	"github.com/botwarden/botwarden/detect/verified"
)

// detectConstants returns the string constants package detect declares
// with the given type name ("Source", "Action", ...), or, for "", the
// untyped ones whose name starts with prefix.
func detectConstants(t *testing.T, typ, prefix string) []string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, filepath.Join("..", "..", "detect"), func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range pkgs["detect"].Files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				named := ""
				if id, ok := vs.Type.(*ast.Ident); ok {
					named = id.Name
				}
				for i, name := range vs.Names {
					if named != typ || !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, v)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s%s constants found in package detect", typ, prefix)
	}
	return out
}

// The vocabulary in docs/architecture.md is the code's: every score
// source, category, action, mode, exported field and verdict header
// package detect declares, every verified-bot category and every block of
// detection IDs is named there.
func TestArchitectureVocabulary(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	vocab := Section(string(raw), "Vocabulary")
	if vocab == "" {
		t.Fatal("docs/architecture.md has no Vocabulary section")
	}
	want := map[string][]string{
		"score source":          detectConstants(t, "Source", ""),
		"category":              detectConstants(t, "Category", ""),
		"action":                detectConstants(t, "Action", ""),
		"mode":                  detectConstants(t, "Mode", ""),
		"exported field":        detectConstants(t, "", "Field"),
		"upstream header":       detectConstants(t, "", "Header"),
		"verified bot category": verified.Categories(),
	}
	for kind, names := range want {
		for _, n := range names {
			if strings.HasSuffix(n, "-") { // header prefixes, not names
				continue
			}
			if !strings.Contains(vocab, "`"+n+"`") {
				t.Errorf("docs/architecture.md, Vocabulary: %s `%s` is not named", kind, n)
			}
		}
	}
	for engine, r := range catalogue.Ranges {
		block := strconv.Itoa(r[0]) + "–" + strconv.Itoa(r[1])
		if !strings.Contains(vocab, "| "+block+" | `"+engine+"`") {
			t.Errorf("docs/architecture.md, Vocabulary: detection ID block %s of %s is not listed", block, engine)
		}
	}
}
