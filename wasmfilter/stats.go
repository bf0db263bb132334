package wasmfilter

import "github.com/botwarden/botwarden/wasmfilter/abi"

// counter is one of the filter's metrics.
type counter int

const (
	cAbsent counter = iota
	cValid
	cStale
	cBelowThreshold
	cFastPath
	cBlocked
	cSpoofed
	cError
	// Invalid cookies by reason (token.Reason labels, plus no_client_ip).
	cInvalidMalformed
	cInvalidUnknownKey
	cInvalidTampered
	cInvalidExpired
	cInvalidNotYet
	cInvalidUnbound
	cInvalidNoClientIP
	cInvalidOther
	// The invisible JS detection's injection.
	cNoJSResult
	cInjected
	cInjectEncoded
	cInjectTooLarge
	cAcceptEncodingRemoved
	numCounters
)

// MetricPrefix starts every metric name. Envoy adds "wasmcustom." in front,
// so Prometheus sees e.g. envoy_wasmcustom_botwarden_fastpath_hit.
const MetricPrefix = "botwarden."

// counterNames are the metric names after MetricPrefix.
var counterNames = [numCounters]string{
	cAbsent:                "cookie.absent",
	cValid:                 "cookie.valid",
	cStale:                 "cookie.stale",
	cBelowThreshold:        "fastpath.below_threshold",
	cFastPath:              "fastpath.hit",
	cBlocked:               "block.local",
	cSpoofed:               "spoofed_headers.removed",
	cError:                 "filter.error",
	cInvalidMalformed:      "cookie.invalid.malformed",
	cInvalidUnknownKey:     "cookie.invalid.unknown_key",
	cInvalidTampered:       "cookie.invalid.tampered",
	cInvalidExpired:        "cookie.invalid.expired",
	cInvalidNotYet:         "cookie.invalid.not_yet_valid",
	cInvalidUnbound:        "cookie.invalid.unbound",
	cInvalidNoClientIP:     "cookie.invalid.no_client_ip",
	cInvalidOther:          "cookie.invalid.error",
	cNoJSResult:            "fastpath.no_js_result",
	cInjected:              "jsd.injected",
	cInjectEncoded:         "jsd.skipped.encoded",
	cInjectTooLarge:        "jsd.skipped.too_large",
	cAcceptEncodingRemoved: "jsd.accept_encoding.removed",
}

// MetricNames lists every metric the filter defines, with MetricPrefix.
func MetricNames() []string {
	out := make([]string, numCounters)
	for i, n := range counterNames {
		out[i] = MetricPrefix + n
	}
	return out
}

// invalidCounter maps a token.Reason label to its counter.
func invalidCounter(reason string) counter {
	switch reason {
	case "malformed":
		return cInvalidMalformed
	case "unknown_key":
		return cInvalidUnknownKey
	case "tampered":
		return cInvalidTampered
	case "expired":
		return cInvalidExpired
	case "not_yet_valid":
		return cInvalidNotYet
	case "unbound":
		return cInvalidUnbound
	case "no_client_ip":
		return cInvalidNoClientIP
	}
	return cInvalidOther
}

// stats holds the host's ids of the counters. A counter the host refused
// to define is skipped, not fatal: metrics must not stop the fast path.
type stats struct {
	ids     [numCounters]uint32
	defined [numCounters]bool
}

func (s *stats) define(h Host, logf func(abi.LogLevel, string, ...any)) {
	for c, name := range counterNames {
		id, err := h.DefineCounter(MetricPrefix + name)
		if err != nil {
			logf(abi.LogWarn, "botwarden: metric %s not defined: %v", name, err)
			s.defined[c] = false
			continue
		}
		s.ids[c], s.defined[c] = id, true
	}
}

func (s *stats) inc(h Host, c counter) {
	if s.defined[c] {
		_ = h.IncrementCounter(s.ids[c], 1) // a lost increment is not worth failing a request
	}
}
