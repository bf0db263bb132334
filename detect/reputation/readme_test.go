package reputation_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: config.Default().Reputation,
		Register: func(reg prometheus.Registerer) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := reputation.NewLocal(ctx, reputation.DefaultLocalConfig(), zerolog.Nop(), reg, nil)
			return err
		},
	})
}
