// Package configtest holds the check a component's Config.Validate table
// test makes for each row: start from the defaults, make one edit, and
// require either a valid config or an error that names the field the edit
// broke, so an operator reading the error knows which setting to fix.
package configtest

import (
	"strings"
	"testing"
)

// Check applies edit to (a copy of) c and validates the result. With field
// "" the edited config must be valid; otherwise Validate must fail with an
// error naming field.
func Check[C interface{ Validate() error }](t testing.TB, c C, edit func(*C), field string) {
	t.Helper()
	edit(&c)
	err := c.Validate()
	if field == "" {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), field) {
		t.Fatalf("Validate = %v, want an error naming %s", err, field)
	}
}
