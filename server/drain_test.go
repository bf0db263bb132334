package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/botwarden/botwarden/detect"
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
