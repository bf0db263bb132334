package wire

import (
	"context"
	"sync"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
)

// CheckFunc answers one Check request; it must not keep req, which is
// reused for the next request once it returns.
type CheckFunc func(ctx context.Context, req *authv3.CheckRequest) *Response

// ServiceDesc is go-control-plane's Authorization service description
// with a Check handler that decodes the request with Request.Unmarshal
// into a pooled Request and answers with check. Same service, method and
// wire format; the gRPC server must use Codec (ServerOption). Register it
// with a srv that implements authv3.AuthorizationServer.
func ServiceDesc(check CheckFunc) *grpc.ServiceDesc {
	handler := func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		presizeStack(0)
		r := requests.Get().(*Request)
		defer recycle(r)
		if err := dec(r); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return check(ctx, &r.CheckRequest), nil
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
		return interceptor(ctx, &r.CheckRequest, info, func(ctx context.Context, req any) (any, error) {
			return check(ctx, req.(*authv3.CheckRequest)), nil
		})
	}
	return &grpc.ServiceDesc{
		ServiceName: authv3.Authorization_ServiceDesc.ServiceName,
		HandlerType: (*authv3.AuthorizationServer)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: handler}},
		Metadata:    authv3.Authorization_ServiceDesc.Metadata,
	}
}

// requests recycles decoded requests: their messages, header map and
// slices are the per-request memory that can serve the next call.
var requests = sync.Pool{New: func() any { return new(Request) }}

func recycle(r *Request) {
	if r.Pooled() {
		requests.Put(r)
	}
}

// stackPresize is how much stack presizeStack makes room for: a decision's
// deepest path, with room to spare.
const stackPresize = 10 << 10

// presizeStack grows the calling goroutine's stack once, while it is
// shallow. grpc-go runs every RPC on a new goroutine, whose stack starts
// small; letting it grow on demand means several copies made deep inside
// the decoder and the engines, each walking and adjusting every live frame,
// where one copy here, with few frames on the stack, is cheap. The frame is
// a local array the compiler keeps on the stack: it does not escape, and
// presizeStack is not inlined so the frame is its own.
//
//go:noinline
func presizeStack(i int) byte {
	var pad [stackPresize]byte
	return pad[i%len(pad)]
}
