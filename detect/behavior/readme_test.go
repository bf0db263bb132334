package behavior_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: behavior.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := behavior.New(behavior.DefaultConfig(), zerolog.Nop(), reg, nil)
			return err
		},
		Tags: []string{behavior.TagRate, behavior.TagBurst, behavior.TagCrawl, behavior.TagNoAssets, behavior.TagProbing,
			behavior.TagLoginFailures, behavior.TagAccounts, behavior.TagEnumeration, behavior.TagUARotation,
			behavior.TagIPRotation, behavior.TagRegular, behavior.TagChallenge, behavior.TagRobots, behavior.TagAnomaly},
	})
}
