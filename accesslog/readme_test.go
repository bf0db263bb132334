package accesslog_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/accesslog"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: accesslog.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := accesslog.New(accesslog.DefaultConfig(), zerolog.Nop(), reg, nil)
			return err
		},
	})
}
