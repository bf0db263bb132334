package network_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: network.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := network.New(network.DefaultConfig(), zerolog.Nop(), reg)
			return err
		},
		Tags: []string{network.TagDatacenter, network.TagPrivateRelay, network.TagVPN, network.TagHostingASN},
	})
}
