package extauthz

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/botwarden/botwarden/detect"
)

// Transport names label the metrics.
const (
	TransportGRPC      = "grpc"
	TransportHTTPEnvoy = "http_envoy"
	TransportNginx     = "nginx"
	TransportTraefik   = "traefik"
)

type metrics struct {
	checks     *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	deadline   *prometheus.CounterVec
	conversion *prometheus.CounterVec
	panics     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_checks_total",
			Help: "Decisions made, by policy action, enforced action, category, score source and transport.",
		}, []string{"action", "enforced_action", "category", "source", "transport"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "botwarden_decision_seconds",
			Help: "Time from receiving a check to having its response, by transport.",
			// 25 µs .. ~100 ms: the budget is 20 ms, Envoy's timeout 200 ms.
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 13),
		}, []string{"transport"}),
		deadline: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_deadline_fallbacks_total",
			Help: "Checks answered with the safe fallback verdict because the pipeline ran out of budget.",
		}, []string{"transport"}),
		conversion: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_conversion_errors_total",
			Help: "Requests whose conversion found a problem (missing attributes, truncated or dropped headers, untrusted client IP); they still got a verdict.",
		}, []string{"transport", "reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "botwarden_check_panics_total",
			Help: "Denials whose reply rendering (the responder) panicked and were answered with the block page; a panic inside the pipeline is counted by botwarden_engine_errors_total.",
		}),
	}
	// At 0 from the start (for increase() in alerts), per transport a
	// gateway would use.
	for _, tr := range []string{TransportGRPC, TransportHTTPEnvoy, TransportNginx, TransportTraefik} {
		m.deadline.WithLabelValues(tr)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.checks, m.latency, m.deadline, m.conversion, m.panics} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("extauthz metrics: %w (one Server per registry)", err)
			}
			return nil, fmt.Errorf("extauthz metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(transport string, v *detect.Verdict, iss issue, elapsed time.Duration) {
	m.latency.WithLabelValues(transport).Observe(elapsed.Seconds())
	src := string(v.Source)
	if src == "" {
		src = string(detect.SourceNotComputed)
	}
	m.checks.WithLabelValues(string(v.Action), string(v.EnforcedAction), string(v.Category()), src, transport).Inc()
	if v.Deadline {
		m.deadline.WithLabelValues(transport).Inc()
	}
	for i, name := range issueNames {
		if iss&(1<<i) != 0 {
			m.conversion.WithLabelValues(transport, name).Inc()
		}
	}
}
