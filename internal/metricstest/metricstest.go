// Package metricstest reads values back out of Prometheus collectors and
// registries so tests can assert on what a component counted.
//
// It stands in for client_golang's prometheus/testutil, which would add a
// module (github.com/kylelemons/godebug) this repository does not require.
package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Value returns the sum of the counter, gauge and untyped values c collects:
// for a single Counter or Gauge (such as vec.WithLabelValues(...)) its value,
// for a whole vector the total over its series.
func Value(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	total := 0.0
	var failed error
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			// Keep draining so the collecting goroutine can finish.
			failed = err
			continue
		}
		total += value(&pb)
	}
	if failed != nil {
		t.Fatalf("metricstest: writing a metric: %v", failed)
	}
	return total
}

// Sum gathers g and returns the total over the series of metric name whose
// labels include every name/value pair in labels (nil or empty: every
// series). It returns 0 when no series matches, so an assertion that expects
// a count still fails when the metric is missing.
func Sum(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("metricstest: gather: %v", err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				total += value(m)
			}
		}
	}
	return total
}

// hasLabels reports whether m carries every pair in want.
func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

// value is the number a counter, gauge or untyped metric holds (0 for other
// types, whose single value would be ambiguous).
func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}
