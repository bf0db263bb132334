// Package promreg registers Prometheus collectors for packages that may be
// built more than once against one registry (tests, tools, a reload): the
// second instance shares the first one's series instead of failing.
package promreg

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns it, or returns the collector of
// the same type already registered with the same descriptor. A nil reg
// leaves c unregistered. Any other failure (a descriptor that conflicts with
// a different collector) is an error naming the collector.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}

// MustRegister is Register for collectors whose registration failing can
// only be a programming error (fixed names and labels); it panics then.
func MustRegister[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := Register(reg, c)
	if err != nil {
		panic(err)
	}
	return c
}
