package detect

import (
	"net/netip"
	"time"
)

// Event is one completed request as the access log reports it, normalised
// from Envoy's ALS entries or from replayed log lines. The behavioural
// analysis consumes events; it never sees wire types.
type Event struct {
	Time     time.Time
	ClientIP netip.Addr

	Method    string
	Scheme    string
	Host      string
	Path      string // including the query string
	Protocol  string
	Status    int
	RequestID string

	RequestBytes  uint64
	ResponseBytes uint64
	Duration      time.Duration

	UserAgent string
	Referer   string
	JA3       string
	JA4       string
	SessionID string // from the ext_authz metadata or the session cookie
	// Headers are the request headers Envoy was configured to log.
	Headers Headers
	// ResponseFlags are Envoy's short flag names (UAEX, UF, ...).
	ResponseFlags []string
	ContentType   string // response content-type, when logged

	// What ext_authz decided, from its dynamic metadata.
	BotScore    int
	BotScoreSrc string
	BotTags     []string
	Action      string
	RuleID      string

	// Where it came from: the ALS identifier or the replayed file.
	Node    string
	LogName string
}
