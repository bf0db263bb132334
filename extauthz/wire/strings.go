package wire

// str copies b into a new string, or returns the interned constant when b
// is one of the common strings below: the header names (Envoy lower-cases
// them) and frequent values of ordinary requests cost no allocation.
//
// The constants are bucketed by length and told apart by their last byte,
// then compared (string(b) == c does not allocate): one or two short
// comparisons, where a map lookup would hash every name first.
func str(b []byte) string {
	if n := len(b); n > 0 && n < len(common) {
		for _, c := range common[n] {
			if c[n-1] == b[n-1] && string(b) == c {
				return c
			}
		}
	}
	return string(b)
}

// common[n] lists the common strings of length n.
var common = func() [][]string {
	n := 0
	for _, s := range commonStrings {
		n = max(n, len(s))
	}
	byLen := make([][]string, n+1)
	for _, s := range commonStrings {
		byLen[len(s)] = append(byLen[len(s)], s)
	}
	return byLen
}()

var commonStrings = []string{
	// Pseudo-headers and header names of browsers, bots and Envoy itself.
	":authority", ":method", ":path", ":scheme", ":protocol",
	"accept", "accept-encoding", "accept-language", "authorization",
	"cache-control", "connection", "content-length", "content-type", "cookie",
	"dnt", "forwarded", "host", "if-modified-since", "if-none-match", "origin",
	"pragma", "priority", "referer", "te", "upgrade",
	"upgrade-insecure-requests", "user-agent", "via",
	"sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
	"sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-user",
	"sec-gpc", "sec-purpose", "purpose", "x-requested-with",
	"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
	"x-request-id", "x-envoy-external-address", "x-envoy-internal",
	"x-envoy-expected-rq-timeout-ms", "x-envoy-decorator-operation",
	"x-envoy-attempt-count", "x-envoy-original-path", "traceparent",
	"tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled",
	// Methods, schemes, protocols and the commonest browser header values.
	"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT",
	"http", "https", "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3", "/",
	"?0", "?1", "0", "1", "u=0, i", "u=1, i", "u=0", "u=1", "trailers",
	"keep-alive", "close", "no-cache", "max-age=0",
	"document", "empty", "image", "script", "style", "font",
	"navigate", "cors", "no-cors", "same-origin",
	"none", "same-site", "cross-site",
	`"Windows"`, `"macOS"`, `"Linux"`, `"Android"`,
	"gzip, deflate", "gzip, deflate, br", "gzip, deflate, br, zstd",
	"*/*", "en-US,en;q=0.9", "en-US,en;q=0.5",
}
