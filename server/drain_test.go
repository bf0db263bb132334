package server

import (
	"context"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/internal/metricstest"
)

// A check in flight when shutdown starts is answered, not cut off.
func TestShutdownDrainsInFlightChecks(t *testing.T) {
	srv, stop := startServer(t, nil)
	entered := make(chan struct{})
	slow := detect.EngineFunc{EngineName: "slow", Fn: func(ctx context.Context, r *detect.Request, v *detect.Verdict) error {
		close(entered)
		time.Sleep(300 * time.Millisecond) // still running when shutdown begins
		return nil
	}}
	srv.pipeline.Engines = append([]detect.Engine{slow}, srv.pipeline.Engines...)
	client := authClient(t, srv)

	type result struct {
		code codes.Code
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, checkRequest("203.0.113.7", chromeHeaders(), nil))
		done <- result{codes.Code(resp.GetStatus().GetCode()), err}
	}()
	<-entered
	stop() // returns once the server has drained and stopped
	r := <-done
	if r.err != nil || r.code != codes.OK {
		t.Fatalf("in-flight check during shutdown: code %v, err %v", r.code, r.err)
	}
}

// An ALS stream Envoy keeps open does not hold the shutdown for the whole
// grace period: once the checks have drained, the streams are cut. (The
// grace here is an hour; stopServer gives up after 10 s.)
func TestShutdownDoesNotWaitForALSStreams(t *testing.T) {
	srv, stop := startServer(t, func(c *config.Config) { c.Server.ShutdownGrace = time.Hour })
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := accesslogsvc.NewAccessLogServiceClient(conn).StreamAccessLogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	msg := &accesslogsvc.StreamAccessLogsMessage{
		Identifier: &accesslogsvc.StreamAccessLogsMessage_Identifier{Node: &corev3.Node{Id: "envoy-1"}, LogName: "botwarden"},
		LogEntries: &accesslogsvc.StreamAccessLogsMessage_HttpLogs{HttpLogs: &accesslogsvc.StreamAccessLogsMessage_HTTPAccessLogEntries{
			LogEntry: []*accesslogv3.HTTPAccessLogEntry{{Request: &accesslogv3.HTTPRequestProperties{Path: "/"}}},
		}},
	}
	if err := stream.Send(msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return metricstest.Sum(t, srv.Registry(), "botwarden_als_active_streams", nil) == 1 })
	stop()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
