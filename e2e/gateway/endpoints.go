package gateway

import (
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// dialGRPC connects to a gRPC cluster's endpoints: one "host:port", or
// several comma-separated (botwarden replicas behind one Service), which
// are balanced round robin per RPC as Envoy's default load balancer does:
// each Check goes to the next replica, each access-log stream to the next
// one (and, when a replica goes away, the next stream to a live one).
func dialGRPC(addrs string) (*grpc.ClientConn, error) {
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	list := strings.Split(addrs, ",")
	if len(list) == 1 {
		return grpc.NewClient(addrs, creds)
	}
	r := manual.NewBuilderWithScheme("endpoints")
	var st resolver.State
	for _, a := range list {
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: strings.TrimSpace(a)}}})
	}
	r.InitialState(st)
	return grpc.NewClient(r.Scheme()+":///cluster", creds, grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
}
