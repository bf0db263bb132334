package session

// Detection IDs owned by this package (range 3000–3999): what a session
// cookie proves about earlier challenge answers.
const (
	// IDJSDetectionFailed: the session's JavaScript detection found
	// automation (headless, webdriver, ...; the findings are the tags).
	IDJSDetectionFailed = 3001
	// IDChallengeFailed: the session failed the challenge too often and is
	// blocked until its cookie expires.
	IDChallengeFailed = 3002
)

// DetectionIDs describes every detection ID this package emits, for the
// central catalogue.
var DetectionIDs = map[int]string{
	IDJSDetectionFailed: "JavaScript detection failed: the session's challenge answer showed automation (headless, webdriver, ...)",
	IDChallengeFailed:   "challenge failed too often: the session is blocked until its cookie expires",
}
