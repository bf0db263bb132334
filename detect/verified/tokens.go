package verified

import (
	"strings"
)

// The user agent is scanned once per request for two kinds of names: tokens
// that claim a verifiable bot (Bot.Tokens) and the agent names of the AI
// catalogue. Both are literal names matched case-insensitively on word
// boundaries, so instead of regular expressions (one combined, case-folded
// alternation of ~200 names costs ~57 µs on a Chrome UA; see
// BenchmarkMatchUA for this scanner) the UA is split into words — maximal
// runs of ASCII letters and digits — and every word is looked up in a map
// keyed by the last word of each name. Multi-word names ("ChatGPT-User",
// "archive.org_bot") are checked against the preceding words; separators
// between words do not matter.

const (
	maxPhraseWords = 4  // longest name, in words
	maxWordLen     = 32 // longer words cannot be a name's word; skip them
)

// phrase is one name: its lower-case words and what it identifies.
type phrase struct {
	words []string
	bot   int // index into the bot table, -1 for none
	ai    int // index into the AI catalogue, -1 for none
}

// tokenIndex finds names in user agents.
type tokenIndex struct {
	byLast  map[string][]*phrase
	firstOK [256]bool // first byte of some last word (fast reject)
	minLen  int
	maxLen  int
}

// match is what one scan found.
type match struct {
	bots uint64 // bit i set: the UA claims bot i
	ai   int    // first AI catalogue entry found, -1 for none
}

func newTokenIndex() *tokenIndex {
	return &tokenIndex{byLast: map[string][]*phrase{}, minLen: maxWordLen}
}

// splitWords splits s into lower-case words of ASCII letters and digits.
func splitWords(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isWordByte(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, strings.ToLower(s[start:i]))
			start = -1
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// phraseWords turns a name into the words to match: trailing version
// numbers are dropped ("Brightbot 1.0", "iaskspider/2.0" are the same agents
// as "Brightbot", "iaskspider"). It returns nil for names that cannot be
// matched (no words, too many, or a word too long).
func phraseWords(name string) []string {
	w := splitWords(name)
	for len(w) > 1 && isDigits(w[len(w)-1]) {
		w = w[:len(w)-1]
	}
	if len(w) == 0 || len(w) > maxPhraseWords {
		return nil
	}
	for _, s := range w {
		if len(s) > maxWordLen {
			return nil
		}
	}
	return w
}

// add registers name for a bot (bot ≥ 0) or an AI entry (ai ≥ 0). A name
// registered twice keeps the first bot and the first AI entry.
func (x *tokenIndex) add(name string, bot, ai int) bool {
	w := phraseWords(name)
	if w == nil {
		return false
	}
	last := w[len(w)-1]
	for _, p := range x.byLast[last] {
		if equalWords(p.words, w) {
			if p.bot < 0 {
				p.bot = bot
			}
			if p.ai < 0 {
				p.ai = ai
			}
			return true
		}
	}
	x.byLast[last] = append(x.byLast[last], &phrase{words: w, bot: bot, ai: ai})
	x.firstOK[last[0]] = true
	x.minLen = min(x.minLen, len(last))
	x.maxLen = max(x.maxLen, len(last))
	return true
}

func equalWords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type span struct{ start, end int }

// scan finds every name in ua. It allocates nothing and reads ua once.
func (x *tokenIndex) scan(ua string) match {
	m := match{ai: -1}
	var ring [maxPhraseWords]span
	n := 0 // words seen
	var buf [maxWordLen]byte
	start := -1
	for i := 0; i <= len(ua); i++ {
		if i < len(ua) && isWordByte(ua[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start < 0 {
			continue
		}
		w := span{start, i}
		start = -1
		ring[n%maxPhraseWords] = w
		n++
		l := w.end - w.start
		if l < x.minLen || l > x.maxLen || !x.firstOK[lower(ua[w.start])] {
			continue
		}
		for j := 0; j < l; j++ {
			buf[j] = lower(ua[w.start+j])
		}
		cands := x.byLast[string(buf[:l])]
		for _, p := range cands {
			if !x.precededBy(ua, p.words, ring[:], n) {
				continue
			}
			if p.bot >= 0 {
				m.bots |= 1 << uint(p.bot)
			}
			if p.ai >= 0 && m.ai < 0 {
				m.ai = p.ai
			}
		}
	}
	return m
}

// precededBy reports whether the words before the current one (the n-th)
// equal the phrase's leading words.
func (x *tokenIndex) precededBy(ua string, words []string, ring []span, n int) bool {
	k := len(words)
	if k > n {
		return false
	}
	for j := 0; j < k-1; j++ {
		s := ring[(n-k+j)%maxPhraseWords]
		if !strings.EqualFold(ua[s.start:s.end], words[j]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
