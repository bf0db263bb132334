package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestValueAndSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hits_total", Help: "h"}, []string{"rule", "action"})
	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "depth", Help: "d"})
	reg.MustRegister(hits, depth)
	hits.WithLabelValues("a", "block").Add(2)
	hits.WithLabelValues("a", "allow").Add(3)
	hits.WithLabelValues("b", "block").Add(5)
	depth.Set(7)

	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"value of one series", Value(t, hits.WithLabelValues("a", "allow")), 3},
		{"value of a vector", Value(t, hits), 10},
		{"value of a gauge", Value(t, depth), 7},
		{"sum of every series", Sum(t, reg, "hits_total", nil), 10},
		{"sum by one label", Sum(t, reg, "hits_total", map[string]string{"action": "block"}), 7},
		{"sum by all labels", Sum(t, reg, "hits_total", map[string]string{"rule": "a", "action": "block"}), 2},
		{"no such value", Sum(t, reg, "hits_total", map[string]string{"rule": "c"}), 0},
		{"no such label", Sum(t, reg, "hits_total", map[string]string{"mode": "x"}), 0},
		{"no such metric", Sum(t, reg, "misses_total", nil), 0},
		{"unlabelled gauge", Sum(t, reg, "depth", nil), 7},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
