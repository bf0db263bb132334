package challenge_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/challenge"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/internal/readmetest"
)

// blockPage is the fallback responder the challenge needs to exist.
type blockPage struct{}

func (blockPage) Respond(*detect.Request, *detect.Verdict) detect.Response {
	return detect.Response{Status: 403}
}

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: challenge.DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			sessions, err := session.New(session.DefaultConfig(), zerolog.Nop(), nil)
			if err != nil {
				return err
			}
			_, err = challenge.New(challenge.DefaultConfig(), sessions, challenge.Options{Fallback: blockPage{}, Logger: zerolog.Nop(), Registerer: reg})
			return err
		},
	})
}
