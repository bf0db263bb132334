package main

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/botwarden/botwarden/bench/loadtest"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz"
)

// BenchmarkCheckPipeline measures, per Check and in process, what the
// gRPC codec does (unmarshal the request, marshal the response) plus the
// handler: the do-nothing server, and botwarden with newPipeline run as the
// server runs it (deadline budget on) and inline (budget off: the engines'
// and decider's own CPU). Requests cycle through the load test's mix.
func BenchmarkCheckPipeline(b *testing.B) {
	var wire [][]byte
	for _, r := range loadtest.Traffic() {
		buf, err := proto.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		wire = append(wire, buf)
	}
	p, err := newPipeline()
	if err != nil {
		b.Fatal(err)
	}
	inline := *p
	inline.Budget = -1
	newServer := func(p *detect.Pipeline) authv3.AuthorizationServer {
		s, err := extauthz.New(p, extauthz.Options{Config: extauthz.DefaultConfig(), Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name string
		srv  authv3.AuthorizationServer
	}{
		{"do-nothing", loadtest.Noop{}},
		{"botwarden", newServer(p)},
		{"botwarden-inline", newServer(&inline)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req := &authv3.CheckRequest{}
				if err := proto.Unmarshal(wire[i%len(wire)], req); err != nil {
					b.Fatal(err)
				}
				i++
				resp, err := tt.srv.Check(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := proto.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
