package network_test

import (
	"fmt"
	"net/netip"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/network"
)

func ExampleEngine_Lookup() {
	e, err := network.New(network.DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	for _, ip := range []string{"3.5.140.2", "172.225.46.70", "86.1.2.3"} {
		info, tags, _ := e.Lookup(netip.MustParseAddr(ip))
		fmt.Println(ip, info.Datacenter, info.PrivateRelay, tags)
	}
	// Output:
	// 3.5.140.2 true false [datacenter-ip cloud-amazon]
	// 172.225.46.70 false true [private-relay]
	// 86.1.2.3 false false []
}
