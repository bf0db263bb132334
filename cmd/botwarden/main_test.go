package main

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/ml"
)

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("server:\n  grpc_addr: 127.0.0.1:0\n  http_addr: 127.0.0.1:0\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("detection:\n  budget: soon\n"), 0o600)
	badPolicy := filepath.Join(dir, "bad-policy.yaml")
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("rules:\n- id: r1\n  expression: 'bot.score <'\n  action: block\n"), 0o600)
	os.WriteFile(badPolicy, []byte("policy:\n  file: "+filepath.Join(dir, "policy.yaml")+"\n"), 0o600)
	logs := filepath.Join(dir, "access.log")
	os.WriteFile(logs, []byte(`203.0.113.9 - - [21/Nov/2026:10:00:00 +0000] "GET /p/1 HTTP/1.1" 200 512 "-" "curl/8.5.0"`+"\n"), 0o600)

	// A tiny labelled set: browsers with their headers, scripts without.
	var train strings.Builder
	for i := range 20 {
		train.WriteString(`{"method":"GET","scheme":"https","path":"/p","protocol":"HTTP/2","label":"human","headers":{"user-agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36","accept":"text/html","accept-language":"en","sec-ch-ua":"\"Chromium\";v=\"142\"","sec-fetch-mode":"navigate"}}` + "\n")
		train.WriteString(`{"method":"GET","scheme":"https","path":"/p","protocol":"HTTP/1.1","label":"bot","headers":{"user-agent":"python-requests/2.` + strconv.Itoa(i) + `","accept":"*/*"}}` + "\n")
	}
	examples := filepath.Join(dir, "train.jsonl")
	os.WriteFile(examples, []byte(train.String()), 0o600)
	model := filepath.Join(dir, "model.json")

	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"version"}, 0, version + "\n"},
		{[]string{"check-config", good}, 0, "ok"},
		{[]string{"check-config", bad}, 1, "detection.budget"},
		{[]string{"check-config", badPolicy}, 1, "r1"},
		{[]string{"check-config"}, 1, "usage"},
		{[]string{"token", "keygen"}, 0, "="},
		{[]string{"token", "inspect", "abc"}, 1, "session.keys"},
		{[]string{"replay", logs}, 0, ""},
		{[]string{"update-ranges", "-list"}, 0, "developers.google.com"},
		{[]string{"detections"}, 0, "spoofed bot"},
		{[]string{"train", "-out", model, "-eval", examples, "-epochs", "50", examples}, 0, "held-out"},
		{[]string{"train", bad}, 1, "train"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{nil, 2, "usage"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			t.Setenv("BOTWARDEN_CONFIG", "")
			code := run(tt.args, &out, &errb)
			all := out.String() + errb.String()
			if code != tt.code || !strings.Contains(all, tt.contains) {
				t.Fatalf("exit %d (want %d), output:\n%s", code, tt.code, all)
			}
			if len(tt.args) > 0 && tt.args[0] == "train" && code == 0 {
				if _, err := ml.LoadModel(mustOpen(t, model)); err != nil {
					t.Fatalf("trained model does not load: %v", err)
				}
			}
		})
	}
}

// TestVersionWritesToItsWriter: the output goes where the caller asked,
// not to the process's stdout.
func TestVersionWritesToItsWriter(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || out.String() != version+"\n" || errb.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// TestPackageDocListsEveryCommand: `go doc` of this command is its manual,
// so every command must be in it.
func TestPackageDocListsEveryCommand(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	for _, c := range commands() {
		if !strings.Contains(doc, "botwarden "+c.name+" ") && !strings.Contains(doc, "botwarden "+c.name+"\n") {
			t.Errorf("package doc does not list %q:\n%s", c.name, doc)
		}
	}
}
