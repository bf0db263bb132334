package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"check-config", good}, 0, "ok"},
		{[]string{"check-config", bad}, 1, "detection.budget"},
		{[]string{"check-config", badPolicy}, 1, "r1"},
		{[]string{"check-config"}, 1, "usage"},
		{[]string{"token", "keygen"}, 0, "="},
		{[]string{"token", "inspect", "abc"}, 1, "session.keys"},
		{[]string{"replay", logs}, 0, ""},
		{[]string{"update-ranges", "-list"}, 0, "developers.google.com"},
		{[]string{"detections"}, 0, "spoofed bot"},
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
		})
	}
}
