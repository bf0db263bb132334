package heuristics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	var ids []int
	var tags []string
	for _, d := range heuristics.Catalogue {
		ids = append(ids, d.ID)
		tags = append(tags, d.Tags...)
	}
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: heuristics.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := heuristics.New(heuristics.DefaultConfig(), zerolog.Nop(), reg)
			return err
		},
		DetectionIDs: ids,
		Tags:         tags,
	})
}
