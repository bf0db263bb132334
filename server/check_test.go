package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botwarden/botwarden/config"
)

const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"

func chromeHeaders() map[string]string {
	return map[string]string{
		"user-agent":                chromeUA,
		"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
		"accept-language":           "en-US,en;q=0.9",
		"accept-encoding":           "gzip, deflate, br, zstd",
		"sec-ch-ua":                 `"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"`,
		"sec-ch-ua-mobile":          "?0",
		"sec-ch-ua-platform":        `"Windows"`,
		"sec-fetch-site":            "none",
		"sec-fetch-mode":            "navigate",
		"sec-fetch-user":            "?1",
		"sec-fetch-dest":            "document",
		"upgrade-insecure-requests": "1",
	}
}

func checkRequest(clientIP string, headers map[string]string, ext map[string]string) *authv3.CheckRequest {
	h := map[string]string{":authority": "shop.example", ":path": "/product/1", ":method": "GET", ":scheme": "https", "x-forwarded-for": clientIP}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1", Method: "GET", Path: "/product/1", Host: "shop.example", Scheme: "https", Protocol: "HTTP/2", Headers: h,
		}},
		ContextExtensions: ext,
	}}
}

func authClient(t *testing.T, srv *Server) authv3.AuthorizationClient {
	t.Helper()
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func header(resp *authv3.CheckResponse, name string) (string, bool) {
	for _, h := range resp.GetOkResponse().GetHeaders() {
		if h.GetHeader().GetKey() == name {
			return h.GetHeader().GetValue(), true
		}
	}
	return "", false
}

// TestCheckOnDefaults drives the fully wired server (embedded defaults, as
// `make run` starts it) over real gRPC on loopback.
func TestCheckOnDefaults(t *testing.T) {
	srv, _ := startServer(t, func(c *config.Config) {
		c.ExtAuthz.ClientIP.UseXFF = true
		c.ExtAuthz.ClientIP.XFFNumTrustedHops = 0
	})
	client := authClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A real browser's headers pass, with the verdict upstream and a
	// client-sent x-bot-score removed.
	h := chromeHeaders()
	h["x-bot-score"] = "99"
	resp, err := client.Check(ctx, checkRequest("203.0.113.7", h, nil))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("browser denied: %v %s", resp.GetStatus(), resp.GetDeniedResponse().GetBody())
	}
	score, ok := header(resp, "x-bot-score")
	if !ok || score == "99" || score == "" {
		t.Fatalf("x-bot-score upstream = %q (%v)", score, ok)
	}
	if md := resp.GetDynamicMetadata().GetFields(); md["BotScore"] == nil || md["BotScoreSrc"] == nil {
		t.Fatalf("dynamic metadata missing fields: %v", md)
	}

	// curl is blocked in mitigate mode (the embedded default)…
	resp, err = client.Check(ctx, checkRequest("203.0.113.8", map[string]string{"user-agent": "curl/8.5.0", "accept": "*/*"}, nil))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK || resp.GetDeniedResponse().GetStatus().GetCode() != 403 {
		t.Fatalf("curl not blocked: %v", resp)
	}
	// …and allowed, tagged, when the route says monitor.
	resp, err = client.Check(ctx, checkRequest("203.0.113.8", map[string]string{"user-agent": "curl/8.5.0"}, map[string]string{"botwarden_mode": "monitor"}))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("monitor mode denied: %v", resp.GetStatus())
	}
	if got := resp.GetDynamicMetadata().GetFields()["BotAction"].GetStringValue(); got != "block" {
		t.Fatalf("monitor mode must record the would-be action, got %q", got)
	}

	// The checks are visible on /metrics.
	mresp, err := http.Get("http://" + srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(body), "botwarden_checks_total") {
		t.Fatal("botwarden_checks_total not exported")
	}
}
