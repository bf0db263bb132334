package verified_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/verified"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: verified.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := verified.New(verified.DefaultConfig(), zerolog.Nop(), reg)
			return err
		},
		DetectionIDs: slices.Collect(maps.Keys(verified.DetectionIDs)),
		Tags:         []string{"verified-bot", verified.AITag(verified.AICrawler), verified.AITag(verified.AISearch), verified.AITag(verified.AIAssistant)},
	})
}
