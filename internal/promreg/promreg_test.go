package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	first, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil || second != first {
		t.Fatalf("second registration: %v, shared %v", err, second == first)
	}
	// Same name, different labels: a real conflict.
	if _, err := Register(reg, prometheus.NewCounterVec(opts, []string{"l"})); err == nil {
		t.Fatal("conflicting descriptor accepted")
	}
	c := prometheus.NewCounter(opts)
	if got, err := Register(nil, c); err != nil || got != c {
		t.Fatal("nil registry must leave the collector as is")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustRegister did not panic on a conflict")
		}
	}()
	MustRegister(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "other"}))
}
