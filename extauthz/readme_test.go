package extauthz_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: extauthz.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := extauthz.New(&detect.Pipeline{}, extauthz.Options{Config: extauthz.DefaultConfig(), Registerer: reg})
			return err
		},
	})
}
