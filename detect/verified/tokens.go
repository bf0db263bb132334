package verified

import (
	"strings"
)

// The user agent is scanned once per request for two kinds of names: tokens
// that claim a verifiable bot (Bot.Tokens) and the agent names of the AI
// catalogue. Both are literal names matched case-insensitively on word
// boundaries, so instead of regular expressions (one combined, case-folded
// alternation of ~200 names is slow on every request; BenchmarkEvaluate
// measures this scanner) the UA is split into words — maximal
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
	byLast map[string][]*phrase
	// seen has the bit of shapeKey(w) set for every last word w: most words
	// of a user agent ("mozilla", "applewebkit", version numbers) are
	// rejected by one bit test on their length, first and last byte, without
	// hashing the word or looking it up in the map.
	seen   [bloomWords]uint64
	minLen int
	maxLen int
}

const bloomWords = 128 // 8192 bits for a few hundred names

// shapeKey mixes a word's length and its first and last (lower-case) bytes.
func shapeKey(l int, first, last byte) uint32 {
	return uint32(l)*0x9E3779B1 ^ uint32(first)*0x85EBCA77 ^ uint32(last)*0xC2B2AE3D
}

func (x *tokenIndex) bloomHas(k uint32) bool {
	k ^= k >> 15
	return x.seen[(k>>6)%bloomWords]&(1<<(k&63)) != 0
}

func (x *tokenIndex) bloomAdd(k uint32) {
	k ^= k >> 15
	x.seen[(k>>6)%bloomWords] |= 1 << (k & 63)
}

// match is what one scan found.
type match struct {
	bots uint64 // bit i set: the UA claims bot i
	ai   int    // first AI catalogue entry found, -1 for none
}

// add records that phrase p was found.
func (m *match) add(p *phrase) {
	if p.bot >= 0 {
		m.bots |= 1 << uint(p.bot)
	}
	if p.ai >= 0 && m.ai < 0 {
		m.ai = p.ai
	}
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

func isWordByte(c byte) bool { return wordByte[c] != 0 }

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
	x.bloomAdd(shapeKey(len(last), last[0], last[len(last)-1]))
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
	for i := 0; i < len(ua); {
		for i < len(ua) && wordByte[ua[i]] == 0 {
			i++
		}
		if i == len(ua) {
			break
		}
		start := i
		for i < len(ua) && wordByte[ua[i]] != 0 {
			i++
		}
		ring[n%maxPhraseWords] = span{start, i}
		n++
		l := i - start
		if l < x.minLen || l > x.maxLen || !x.bloomHas(shapeKey(l, wordByte[ua[start]], wordByte[ua[i-1]])) {
			continue
		}
		for j := range l {
			buf[j] = wordByte[ua[start+j]]
		}
		for _, p := range x.byLast[string(buf[:l])] {
			if x.precededBy(ua, p.words, ring[:], n) {
				m.add(p)
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

// wordByte maps a byte to its lower-case form when it belongs to a word
// (ASCII letter or digit) and to 0 otherwise.
var wordByte = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c)
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = byte(c)
		t[c-'a'+'A'] = byte(c)
	}
	return t
}()
