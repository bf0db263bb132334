package ml_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: ml.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := ml.New(ml.DefaultConfig(), zerolog.Nop(), reg)
			return err
		},
	})
}
