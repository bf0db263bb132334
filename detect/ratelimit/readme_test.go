package ratelimit_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/ratelimit"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: ratelimit.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := ratelimit.NewLocal(ratelimit.DefaultConfig(), zerolog.Nop(), reg)
			return err
		},
	})
}
