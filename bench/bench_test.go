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
// handler: the do-nothing server; botwarden with an empty pipeline (the
// transport's own cost: conversion, response, metadata); with newPipeline
// inline (budget off: plus the engines' and decider's CPU); and as the
// server runs it (deadline budget on: plus a goroutine and a timer).
// Requests cycle through the load test's mix.
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
		{"botwarden-empty-pipeline", newServer(&detect.Pipeline{Budget: -1})},
		{"botwarden-inline", newServer(&inline)},
		{"botwarden", newServer(p)},
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
