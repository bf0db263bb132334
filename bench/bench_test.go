package main

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/botwarden/botwarden/bench/loadtest"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz"
	"github.com/botwarden/botwarden/extauthz/wire"
	"github.com/botwarden/botwarden/internal/cputime"
)

// BenchmarkCheckPipeline measures, per Check and in process, exactly what
// the gRPC server runs between reading a request's bytes and writing the
// answer's (the registered handler with botwarden's codec, wire.Codec),
// without the transport: the do-nothing server; botwarden with an empty pipeline (the
// transport's own cost: decoding, conversion, answer, metadata); with
// newPipeline inline (budget off: plus the engines' and decider's CPU);
// and as the server runs it (deadline budget on). Requests cycle through
// the load test's mix, returning visitors included (and, for botwarden,
// every request a first visit), each send with its own x-request-id
// (loadtest.Fresh: one copy of the request's bytes per op, in every case).
// Each reports its CPU time per Check (cpu-ns/op, GC included) next to
// wall time: on a shared machine that is the figure to compare. The
// server's background work runs as under serve, so the process CPU
// includes the analytics writer storing the decisions.
func BenchmarkCheckPipeline(b *testing.B) {
	p, err := newPipeline(b.Context())
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
	reqs, err := loadtest.Returning(context.Background(), newServer(p), loadtest.Mix(), loadtest.DefaultConfig().FirstVisitEvery)
	if err != nil {
		b.Fatal(err)
	}
	returning, firstVisits := freshForm(b, reqs), freshForm(b, loadtest.Traffic())
	for _, tt := range []struct {
		name string
		srv  authv3.AuthorizationServer
		wire []*loadtest.Fresh
	}{
		{"do-nothing", loadtest.Noop{}, returning},
		{"botwarden-empty-pipeline", newServer(&detect.Pipeline{Budget: -1}), returning},
		{"botwarden-inline", newServer(&inline), returning},
		{"botwarden", newServer(p), returning},
		{"botwarden-first-visits", newServer(p), firstVisits},
	} {
		bodies := tt.wire
		b.Run(tt.name, func(b *testing.B) {
			check := registeredCheck(b, tt.srv)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			start := cputime.Now()
			for b.Loop() {
				data := mem.BufferSlice{mem.SliceBuffer(bodies[i%len(bodies)].Next())}
				i++
				resp, err := check(ctx, func(v any) error { return wire.Codec{}.Unmarshal(data, v) })
				if err != nil {
					b.Fatal(err)
				}
				out, err := wire.Codec{}.Marshal(resp)
				if err != nil {
					b.Fatal(err)
				}
				out.Free()
			}
			b.ReportMetric(cputime.PerOp(start, i), "cpu-ns/op")
		})
	}
}

// registeredCheck returns the Check handler srv registers on a gRPC
// server, bound to srv: what the server calls with a decoder for the
// request bytes.
func registeredCheck(b *testing.B, srv authv3.AuthorizationServer) func(context.Context, func(any) error) (any, error) {
	var reg registrar
	if r, ok := srv.(interface{ Register(grpc.ServiceRegistrar) }); ok {
		r.Register(&reg)
	} else {
		authv3.RegisterAuthorizationServer(&reg, srv)
	}
	for _, m := range reg.desc.Methods {
		if m.MethodName == "Check" {
			return func(ctx context.Context, dec func(any) error) (any, error) { return m.Handler(reg.impl, ctx, dec, nil) }
		}
	}
	b.Fatal("no Check method registered")
	return nil
}

// registrar keeps what is registered instead of serving it.
type registrar struct {
	desc *grpc.ServiceDesc
	impl any
}

func (r *registrar) RegisterService(desc *grpc.ServiceDesc, impl any) { r.desc, r.impl = desc, impl }

func freshForm(b *testing.B, reqs []*authv3.CheckRequest) []*loadtest.Fresh {
	var out []*loadtest.Fresh
	for _, r := range reqs {
		f, err := loadtest.NewFresh(r)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}
