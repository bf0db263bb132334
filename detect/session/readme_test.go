package session_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/internal/readmetest"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: session.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := session.New(session.DefaultConfig(), zerolog.Nop(), reg)
			return err
		},
		DetectionIDs: slices.Collect(maps.Keys(session.DetectionIDs)),
		Tags:         append([]string{session.TagJSFailed, session.TagChallengeFailed, session.TagNoJS}, session.DecodeFindings(^uint16(0), nil)...),
	})
}
