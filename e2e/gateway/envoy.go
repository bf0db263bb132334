package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	accesslogcfgv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// tapCluster is the cluster the Envoy gateway adds for Options.Tap.
const tapCluster = "e2e_tap"

// Envoy is a real Envoy process running a repository config on loopback.
type Envoy struct {
	cmd     *exec.Cmd
	dir     string
	url     string
	admin   string
	version string
	exited  chan error
	tap     *grpc.Server
}

var _ Gateway = (*Envoy)(nil)

// StartEnvoy runs bin (an Envoy ≥ 1.35 binary) on the config with every
// address rewritten to loopback: the listener and admin on free ports, each
// cluster on its Options.Clusters address. It returns once Envoy reports
// ready. Options that only the in-repo gateway can honour are refused.
func StartEnvoy(ctx context.Context, bin string, opts Options) (*Envoy, error) {
	if len(opts.Filters) > 0 || opts.Fingerprint != nil {
		return nil, errors.New("gateway: Options.Filters and Options.Fingerprint need the in-repo gateway")
	}
	b, err := loadConfig(opts)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "botwarden-envoy-")
	if err != nil {
		return nil, err
	}
	e := &Envoy{dir: dir, exited: make(chan error, 1)}
	if opts.Tap != nil {
		addr, srv, err := serveTap(opts.Tap)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.tap = srv
		opts.Clusters = withCluster(opts.Clusters, tapCluster, addr)
	}
	if err := renderForEnvoy(b, opts, dir); err != nil {
		e.Close()
		return nil, err
	}
	js, err := protojson.MarshalOptions{Resolver: protoregistry.GlobalTypes, Indent: "  "}.Marshal(b)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("gateway: envoy config: %w", err)
	}
	cfgPath := filepath.Join(dir, "envoy.json")
	if err := os.WriteFile(cfgPath, js, 0o600); err != nil {
		e.Close()
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput(); err == nil {
		e.version = strings.TrimSpace(string(out))
	}
	logFile, err := os.Create(filepath.Join(dir, "envoy.log"))
	if err != nil {
		e.Close()
		return nil, err
	}
	defer logFile.Close()
	adminPath := filepath.Join(dir, "admin.txt")
	e.cmd = exec.Command(bin, "-c", cfgPath, "--admin-address-path", adminPath,
		"--use-dynamic-base-id", "--disable-hot-restart", "--concurrency", "2", "--log-level", "warn")
	e.cmd.Stdout, e.cmd.Stderr = logFile, logFile
	if err := e.cmd.Start(); err != nil {
		e.Close()
		return nil, fmt.Errorf("gateway: start envoy: %w", err)
	}
	go func() { e.exited <- e.cmd.Wait() }()
	if err := e.waitReady(ctx, adminPath); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// renderForEnvoy edits the bootstrap in place for a loopback run.
func renderForEnvoy(b *bootstrapv3.Bootstrap, opts Options, dir string) error {
	b.Admin = &bootstrapv3.Admin{Address: loopback(0)}
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 {
		return fmt.Errorf("gateway: want one listener, got %d", len(ls))
	}
	ls[0].Address = loopback(0)

	for _, c := range b.GetStaticResources().GetClusters() {
		addr, ok := opts.Clusters[c.GetName()]
		if !ok {
			return fmt.Errorf("gateway: cluster %q has no address in Options.Clusters", c.GetName())
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			return fmt.Errorf("gateway: cluster %s: %w", c.GetName(), err)
		}
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		c.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: c.GetName(), Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
				}}},
			}}}},
		}}}
	}

	// The config's certificate files belong to a deployment: use a fresh
	// self-signed pair.
	certs := false
	if err := eachTyped(b, func(t *tlsv3.DownstreamTlsContext) bool {
		certs = true
		t.GetCommonTlsContext().TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: filepath.Join(dir, "tls.crt")}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: filepath.Join(dir, "tls.key")}},
		}}
		return true
	}); err != nil {
		return err
	}
	if certs {
		if err := writeSelfSigned(dir); err != nil {
			return err
		}
	}

	if addr, ok := opts.Clusters[tapCluster]; ok {
		if err := addTap(b, addr); err != nil {
			return err
		}
	}
	return nil
}

// addTap adds a second gRPC access logger (same headers as the first) that
// streams to the loopback tap receiver.
func addTap(b *bootstrapv3.Bootstrap, addr string) error {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return err
	}
	var tapErr error
	err = eachTyped(b, func(hcm *hcmv3.HttpConnectionManager) bool {
		for _, al := range hcm.GetAccessLog() {
			var c alsv3.HttpGrpcAccessLogConfig
			if al.GetTypedConfig().UnmarshalTo(&c) != nil {
				continue
			}
			tap := proto.Clone(&c).(*alsv3.HttpGrpcAccessLogConfig)
			tap.CommonConfig.LogName = "e2e-tap"
			tap.CommonConfig.GrpcService = &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: tapCluster}}}
			tap.CommonConfig.BufferFlushInterval = durationpb.New(200 * time.Millisecond)
			a, err := anypb.New(tap)
			if err != nil {
				tapErr = err
				return false
			}
			hcm.AccessLog = append(hcm.AccessLog, &accesslogcfgv3.AccessLog{Name: "envoy.access_loggers.http_grpc", ConfigType: &accesslogcfgv3.AccessLog_TypedConfig{TypedConfig: a}})
			return true
		}
		tapErr = errors.New("gateway: Options.Tap needs a gRPC access logger in the config")
		return false
	})
	if err != nil {
		return err
	}
	if tapErr != nil {
		return tapErr
	}
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		},
	}})
	if err != nil {
		return err
	}
	b.StaticResources.Clusters = append(b.StaticResources.Clusters, &clusterv3.Cluster{
		Name:                          tapCluster,
		ConnectTimeout:                durationpb.New(time.Second),
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: tapCluster, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
				}}},
			}}}},
		}}},
	})
	return nil
}

// waitReady waits for the admin address, /ready, and the listener's port.
func (e *Envoy) waitReady(ctx context.Context, adminPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	for time.Now().Before(deadline) {
		select {
		case err := <-e.exited:
			e.exited <- err
			return fmt.Errorf("gateway: envoy exited: %v\n%s", err, e.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if e.admin == "" {
			b, err := os.ReadFile(adminPath)
			if err != nil || len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			e.admin = strings.TrimSpace(string(b))
		}
		resp, err := client.Get("http://" + e.admin + "/ready")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("LIVE")) {
			continue
		}
		port, err := e.listenerPort(client)
		if err != nil {
			return err
		}
		scheme := "http"
		if e.tls() {
			scheme = "https"
		}
		e.url = fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
		return nil
	}
	return fmt.Errorf("gateway: envoy not ready after 60s\n%s", e.Log())
}

func (e *Envoy) listenerPort(client *http.Client) (uint32, error) {
	resp, err := client.Get("http://" + e.admin + "/listeners?format=json")
	if err != nil {
		return 0, fmt.Errorf("gateway: envoy admin: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var ls adminv3.Listeners
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &ls); err != nil {
		return 0, fmt.Errorf("gateway: envoy /listeners: %w", err)
	}
	for _, l := range ls.GetListenerStatuses() {
		if p := l.GetLocalAddress().GetSocketAddress().GetPortValue(); p != 0 {
			return p, nil
		}
	}
	return 0, fmt.Errorf("gateway: envoy /listeners has no bound port: %s", body)
}

func (e *Envoy) tls() bool {
	b, err := os.ReadFile(filepath.Join(e.dir, "envoy.json"))
	return err == nil && bytes.Contains(b, []byte("DownstreamTlsContext"))
}

// URL implements Gateway.
func (e *Envoy) URL() string { return e.url }

// Kind implements Gateway.
func (e *Envoy) Kind() string {
	if e.version != "" {
		return "envoy (" + e.version + ")"
	}
	return "envoy"
}

// Log returns what Envoy wrote to stdout/stderr (warnings and errors).
func (e *Envoy) Log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "envoy.log"))
	return string(b)
}

// Close implements Gateway: SIGTERM, then SIGKILL after 5 s.
func (e *Envoy) Close() error {
	var err error
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-e.exited:
		case <-time.After(5 * time.Second):
			_ = e.cmd.Process.Kill()
			err = <-e.exited
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = nil // terminated by our signal
		}
	}
	if e.tap != nil {
		e.tap.Stop()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
	return err
}

// serveTap runs a loopback AccessLogService that hands every HTTP entry to tap.
func serveTap(tap AccessLogger) (string, *grpc.Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := grpc.NewServer()
	accesslogsvc.RegisterAccessLogServiceServer(srv, &tapReceiver{tap: tap})
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), srv, nil
}

type tapReceiver struct {
	accesslogsvc.UnimplementedAccessLogServiceServer
	tap AccessLogger
}

func (t *tapReceiver) StreamAccessLogs(stream accesslogsvc.AccessLogService_StreamAccessLogsServer) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			t.tap.Log(e)
		}
	}
}

func loopback(port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func splitHostPort(addr string) (string, uint32, error) {
	ap, err := parseAddrPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("want ip:port, got %q: %w", addr, err)
	}
	return ap.Addr().String(), uint32(ap.Port()), nil
}

func withCluster(m map[string]string, name, addr string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	out[name] = addr
	return out
}

// writeSelfSigned writes tls.crt and tls.key for a TLS listener.
func writeSelfSigned(dir string) error {
	certPEM, keyPEM, _, err := selfSigned()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600)
}
