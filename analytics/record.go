package analytics

import (
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/botwarden/botwarden/detect"
)

// Record is one request as the store keeps it: the decision joined with the
// access-log entry of the same request. The JSON names are the Logpush-style
// names botwarden uses everywhere (metadata, headers, exports), so an
// exported record and an API answer read the same.
type Record struct {
	Time time.Time `json:"EdgeStartTimestamp"`
	// Ref is the request reference shown on block pages (Cloudflare's
	// Ray ID): derived from x-request-id, so the decision and the access-log
	// entry of one request compute the same one without talking.
	Ref string `json:"RayID"`
	// SampleInterval is how many requests this record stands for: 1 unless
	// the store was overloaded and sampled (counts are scaled by it).
	SampleInterval int `json:"SampleInterval"`

	BotScore        int      `json:"BotScore"`
	BotScoreSrc     string   `json:"BotScoreSrc"`
	BotCategory     string   `json:"BotCategory"`
	BotTags         []string `json:"BotTags"`
	BotDetectionIDs []int    `json:"BotDetectionIDs"`
	JA4             string   `json:"JA4"`
	// JSDetectionPassed is passed, failed or missing (detect's
	// JSDetectionResult); empty when only the access-log entry was seen.
	JSDetectionPassed   string `json:"JSDetectionPassed"`
	VerifiedBot         string `json:"VerifiedBot"`
	VerifiedBotCategory string `json:"VerifiedBotCategory"`
	AICategory          string `json:"AICategory"`
	Action              string `json:"BotAction"`
	EnforcedAction      string `json:"BotEnforcedAction"`
	RuleID              string `json:"BotRuleID"`
	Mode                string `json:"BotMode"`
	SessionID           string `json:"BotSessionID"`

	ClientIP      string `json:"ClientIP"`
	ClientNet     string `json:"ClientIPPrefix"` // /24 or /64 of ClientIP
	ClientASN     int    `json:"ClientASN"`
	ClientCountry string `json:"ClientCountry"`

	Method        string `json:"ClientRequestMethod"`
	Host          string `json:"ClientRequestHost"`
	Path          string `json:"ClientRequestPath"`
	UserAgent     string `json:"ClientRequestUserAgent"`
	Status        int    `json:"EdgeResponseStatus"`
	ResponseBytes int64  `json:"EdgeResponseBytes"`
	// DurationMs is the request's total time as the access log reports it
	// (0 when only the decision was seen).
	DurationMs float64 `json:"EdgeTimeToLastByteMs"`
	// Logged reports whether the access-log entry joined this record (else
	// status, bytes and timing are unknown).
	Logged bool `json:"Logged"`

	// clientAddr and requestID are what FromDecision keeps raw on the
	// request path; the writer goroutine formats them (ClientIP,
	// ClientNet, Ref) in fill, so a Check does not pay for the strings.
	clientAddr netip.Addr
	requestID  string
}

// Ref returns the request reference for a request id: 16 hex digits, the
// same for every part of botwarden that sees the same x-request-id; a
// random one when the request carried none.
func Ref(requestID string) string { return detect.NewRayID(requestID) }

// refHash is the number sampling decides on, so that the decision and the
// access-log entry of one request are kept or dropped together.
func refHash(ref string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(ref))
	return h.Sum64()
}

// Prefix returns the /24 (IPv4) or /64 (IPv6) network of ip, "" for none.
func Prefix(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// FromDecision builds a record from what ext_authz decided. It copies every
// value it keeps (r and v belong to the request and may be reused). It
// runs on the request path, so it only copies: the client's address and,
// when ref is "", the request reference are formatted later by fill.
func FromDecision(r *detect.Request, v *detect.Verdict, ref string) Record {
	rec := Record{
		Time: r.Time, Ref: ref, SampleInterval: 1, requestID: r.ID, clientAddr: r.ClientIP,
		BotScore: v.Score, BotScoreSrc: string(v.Source), BotCategory: string(v.Category()),
		JA4: r.JA4(), JSDetectionPassed: v.JSDetectionResult(),
		VerifiedBot: v.VerifiedBot, VerifiedBotCategory: v.VerifiedCategory, AICategory: v.AICategory,
		Action: string(v.Action), EnforcedAction: string(v.EnforcedAction), RuleID: v.RuleID, Mode: string(v.Mode),
		ClientASN: int(v.IP.ASN), ClientCountry: v.IP.Country,
		Method: r.Method, Host: r.Host, Path: r.Path, UserAgent: r.UserAgent(),
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	if len(v.Tags) > 0 {
		rec.BotTags = append([]string(nil), v.Tags...)
	}
	if len(v.DetectionIDs) > 0 {
		rec.BotDetectionIDs = append([]int(nil), v.DetectionIDs...)
	}
	if v.Session != nil {
		rec.SessionID = v.Session.ID
	}
	return rec
}

// fill formats what FromDecision kept raw: the request reference (if not
// computed yet) and the client's address and prefix. The writer calls it
// before it keys, joins or stores a decision.
func (rec *Record) fill() {
	if rec.Ref == "" {
		rec.Ref = Ref(rec.requestID)
	}
	if rec.ClientIP == "" && rec.clientAddr.IsValid() {
		rec.ClientIP = rec.clientAddr.String()
		rec.ClientNet = Prefix(rec.clientAddr)
	}
}

// FromEvent builds a record from an access-log entry alone (its decision was
// not seen here: another replica decided, or ext_authz is not in the path).
// The verdict fields come from the ext_authz metadata the entry carries.
func FromEvent(ev *detect.Event, ref string) Record {
	rec := Record{
		Time: ev.Time, Ref: ref, SampleInterval: 1,
		BotScore: ev.BotScore, BotScoreSrc: ev.BotScoreSrc, BotCategory: string(detect.CategoryOf(ev.BotScore)),
		JA4: ev.JA4, Action: ev.Action, EnforcedAction: ev.Action, RuleID: ev.RuleID, SessionID: ev.SessionID,
		Method: ev.Method, Host: ev.Host, Path: ev.Path, UserAgent: ev.UserAgent,
	}
	if len(ev.BotTags) > 0 {
		rec.BotTags = append([]string(nil), ev.BotTags...)
	}
	if ev.ClientIP.IsValid() {
		rec.ClientIP = ev.ClientIP.String()
		rec.ClientNet = Prefix(ev.ClientIP)
	}
	rec.join(ev)
	return rec
}

// join adds what only the access log knows: status, bytes and timing.
func (rec *Record) join(ev *detect.Event) {
	rec.Status = ev.Status
	rec.ResponseBytes = int64(min(ev.ResponseBytes, 1<<62))
	rec.DurationMs = float64(ev.Duration) / float64(time.Millisecond)
	rec.Logged = true
	if rec.SessionID == "" {
		rec.SessionID = ev.SessionID
	}
}
