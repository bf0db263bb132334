package envoy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// No Docker engine runs where these tests run, so the compose file is
// checked the way `docker compose config` would (the compose-spec schema and
// loader), and cross-checked against the Envoy config it mounts and the
// Dockerfile it builds: names, ports and paths must agree.

const repoRoot = ".."

func loadCompose(t *testing.T, yaml []byte) (*types.Project, error) {
	return loadComposeFile(t, "docker-compose.yml", yaml, types.Mapping{})
}

// loadComposeFile loads yaml as the repository's file name, interpolating
// env as `docker compose` would the caller's environment.
func loadComposeFile(t *testing.T, name string, yaml []byte, env types.Mapping) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, name), Content: yaml}},
		Environment: env,
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.ResolvePaths = true
	})
}

func composeFile(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestComposeProject(t *testing.T) {
	p, err := loadCompose(t, composeFile(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range composeProblems(t, p) {
		t.Error(problem)
	}
}

// composeProblems cross-checks the project against the files it uses.
func composeProblems(t *testing.T, p *types.Project) []string {
	t.Helper()
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, name := range []string{"envoy", "botwarden", "origin", "certs"} {
		if _, err := p.GetService(name); err != nil {
			report("%v", err)
		}
	}
	if len(problems) > 0 {
		return problems
	}

	envoySvc, _ := p.GetService("envoy")
	if !strings.HasPrefix(envoySvc.Image, "envoyproxy/envoy:v1.") {
		report("envoy image %q: want the official envoyproxy/envoy image", envoySvc.Image)
	}
	// The mounted Envoy config exists, is the one validated above, and is
	// the file Envoy is told to load.
	var mounted, certs string
	for _, v := range envoySvc.Volumes {
		switch v.Target {
		case "/etc/envoy/envoy.yaml":
			mounted = v.Source
		case "/etc/envoy/certs":
			certs = v.Source
		}
	}
	if mounted == "" || certs == "" {
		report("envoy volumes %v: want envoy.yaml and the certs volume", envoySvc.Volumes)
		return problems
	}
	if !slices.Contains(envoySvc.Command, "/etc/envoy/envoy.yaml") {
		report("envoy command %v does not load the mounted config", envoySvc.Command)
	}
	data, err := os.ReadFile(mounted)
	if err != nil {
		report("envoy config mounted from %s: %v", mounted, err)
		return problems
	}
	b, err := ParseBootstrap(data)
	if err != nil {
		report("%s: %v", mounted, err)
		return problems
	}

	// Every cluster endpoint is a compose service exposing that port.
	exposed := map[string][]uint32{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			exposed[name] = append(exposed[name], port.Target)
		}
		for _, e := range s.Expose {
			n, err := strconv.ParseUint(strings.Split(e, "/")[0], 10, 32)
			if err != nil {
				report("service %s expose %q: %v", name, e, err)
			}
			exposed[name] = append(exposed[name], uint32(n))
		}
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		for _, sa := range FindAll[*corev3.SocketAddress](c) {
			if !slices.Contains(exposed[sa.GetAddress()], sa.GetPortValue()) {
				report("cluster %s points at %s:%d, which no compose service exposes (exposed: %v)", c.GetName(), sa.GetAddress(), sa.GetPortValue(), exposed)
			}
		}
	}
	// The listener port is published.
	for _, l := range b.GetStaticResources().GetListeners() {
		port := l.GetAddress().GetSocketAddress().GetPortValue()
		if !slices.Contains(exposed["envoy"], port) {
			report("listener %s port %d is not published by the envoy service", l.GetName(), port)
		}
	}

	bw, _ := p.GetService("botwarden")
	if bw.Build == nil {
		report("botwarden must be built from the repository")
		return problems
	}
	exposes := dockerfileExposes(t, filepath.Join(bw.Build.Context, bw.Build.Dockerfile))
	for _, port := range []uint32{9001, 8080} {
		if !slices.Contains(exposes, port) || !slices.Contains(exposed["botwarden"], port) {
			report("port %d: Dockerfile EXPOSE %v, compose %v", port, exposes, exposed["botwarden"])
		}
	}
	return problems
}

// dockerfileExposes reads the final stage's EXPOSE ports and checks the
// runtime stage runs as non-root with `serve` as the default command.
func dockerfileExposes(t *testing.T, path string) []uint32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ports []uint32
	var user, cmd string
	var stages int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			stages++
			ports, user, cmd = nil, "", ""
		case "EXPOSE":
			for _, p := range fields[1:] {
				n, err := strconv.ParseUint(p, 10, 32)
				if err != nil {
					t.Fatalf("EXPOSE %q: %v", p, err)
				}
				ports = append(ports, uint32(n))
			}
		case "USER":
			user = fields[1]
		case "CMD":
			cmd = strings.Join(fields[1:], " ")
		}
	}
	if stages < 2 {
		t.Errorf("Dockerfile has %d stages, want a builder and a runtime stage", stages)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("runtime stage USER %q: want non-root", user)
	}
	if !strings.Contains(cmd, "serve") {
		t.Errorf("runtime stage CMD %q: want serve", cmd)
	}
	return ports
}

// TestComposeCrossCheckFails proves the cross-checks can fail: a compose file
// that loads fine but disagrees with envoy.yaml.
func TestComposeCrossCheckFails(t *testing.T) {
	orig := string(composeFile(t))
	cases := []struct{ name, old, new, want string }{
		{"origin port differs from the origin cluster", "    expose:\n    - \"80\"", "    expose:\n    - \"8081\"", "origin:80"},
		{"mounted config missing", "./envoy/envoy.yaml:", "./envoy/missing.yaml:", "missing.yaml"},
		{"listener not published", `"8443:8443"`, `"8443:9443"`, "port 8443"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(orig, c.old) {
				t.Fatalf("docker-compose.yml no longer contains %q", c.old)
			}
			p, err := loadCompose(t, []byte(strings.Replace(orig, c.old, c.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			problems := strings.Join(composeProblems(t, p), "\n")
			if !strings.Contains(problems, c.want) {
				t.Fatalf("problems %q do not mention %q", problems, c.want)
			}
		})
	}
}

func TestComposeRejects(t *testing.T) {
	orig := string(composeFile(t))
	cases := []struct{ name, old, new string }{
		{"unknown service key", "    expose:\n    - \"80\"", "    expoze:\n    - \"80\""},
		{"bad port", `"8443:8443"`, `"8443:eighty"`},
		{"dependency on a missing service", "      origin:\n        condition: service_started", "      orign:\n        condition: service_started"},
		{"bad depends_on condition", "condition: service_completed_successfully", "condition: finished"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(orig, c.old) {
				t.Fatalf("docker-compose.yml no longer contains %q", c.old)
			}
			if _, err := loadCompose(t, []byte(strings.Replace(orig, c.old, c.new, 1))); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
}
