package detect

// Exported field names (Cloudflare Logpush style). The same names are used in
// ext_authz dynamic metadata (namespace envoy.filters.http.ext_authz), access
// logs, exports and the dashboard, so one list lives here.
const (
	FieldBotScore            = "BotScore"
	FieldBotScoreSrc         = "BotScoreSrc"
	FieldBotTags             = "BotTags"
	FieldBotDetectionIDs     = "BotDetectionIDs"
	FieldBotCategory         = "BotCategory"
	FieldJA4                 = "JA4"
	FieldJSDetectionPassed   = "JSDetectionPassed"
	FieldVerifiedBot         = "VerifiedBot"
	FieldVerifiedBotCategory = "VerifiedBotCategory"
	FieldAction              = "BotAction"
	FieldEnforcedAction      = "BotEnforcedAction"
	FieldRuleID              = "BotRuleID"
	FieldMode                = "BotMode"
	FieldSessionID           = "BotSessionID"
	FieldClientIP            = "ClientIP"
	FieldRayID               = "RayID"
)

// Upstream header names set on allowed requests (in inject and mitigate mode).
// Clients' copies of any x-bot-* / x-botwarden-* header are removed first.
const (
	HeaderScore        = "x-bot-score"
	HeaderScoreSrc     = "x-bot-score-src"
	HeaderCategory     = "x-bot-category"
	HeaderTags         = "x-bot-tags"
	HeaderVerified     = "x-bot-verified"
	HeaderVerifiedCat  = "x-bot-verified-category"
	HeaderDetectionIDs = "x-bot-detection-ids"
	HeaderAction       = "x-bot-action"
	HeaderRule         = "x-bot-rule"
	HeaderJSDetection  = "x-bot-js-detection"
	HeaderPrefixBot    = "x-bot-"
	HeaderPrefixWarden = "x-botwarden-"
)

// Reserved reports whether a (lower-case) header name belongs to botwarden and
// must never be accepted from a client. The JA4 header is set by Envoy with
// overwrite before ext_authz, so it is exempt.
func Reserved(name string) bool {
	if name == HeaderJA4 {
		return false
	}
	return len(name) >= len(HeaderPrefixBot) && name[:len(HeaderPrefixBot)] == HeaderPrefixBot ||
		len(name) >= len(HeaderPrefixWarden) && name[:len(HeaderPrefixWarden)] == HeaderPrefixWarden
}
