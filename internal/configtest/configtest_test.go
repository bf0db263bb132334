package configtest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

type config struct{ Workers int }

func (c config) Validate() error {
	if c.Workers < 1 {
		return errors.New("workers: must be at least 1")
	}
	return nil
}

type row struct {
	edit  func(*config)
	field string
}

func TestCheck(t *testing.T) {
	for name, tc := range map[string]row{
		"defaults":   {func(*config) {}, ""},
		"one worker": {func(c *config) { c.Workers = 1 }, ""},
		"no workers": {func(c *config) { c.Workers = 0 }, "workers"},
	} {
		t.Run(name, func(t *testing.T) { Check(t, config{Workers: 4}, tc.edit, tc.field) })
	}
}

// wrong are rows Check must fail on.
var wrong = map[string]row{
	"error wanted":  {func(*config) {}, "workers"},
	"none wanted":   {func(c *config) { c.Workers = 0 }, ""},
	"another field": {func(c *config) { c.Workers = 0 }, "queue_size"},
}

// TestCheckFails runs Check on each wrong row in a child test process (a
// failing Check would fail this test too) and requires that it failed.
func TestCheckFails(t *testing.T) {
	if name := os.Getenv("CONFIGTEST_WRONG"); name != "" {
		Check(t, config{Workers: 4}, wrong[name].edit, wrong[name].field)
		return
	}
	for name := range wrong {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCheckFails$")
		cmd.Env = append(os.Environ(), "CONFIGTEST_WRONG="+name)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--- FAIL") {
			t.Errorf("%s: Check passed: %v\n%s", name, err, out)
		}
	}
}
