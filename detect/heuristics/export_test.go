package heuristics

// Internals for the external tests (package heuristics_test), which need
// the corpus loader of detect/ml/corpus and so cannot live in this package.

// PatternMatch is one matching pattern.
type PatternMatch struct {
	Source  PatternSource
	Pattern string
}

// EachMatch calls fn for every pattern of db matching ua.
func EachMatch(db *UADB, ua string, fn func(PatternMatch)) {
	db.each(ua, func(m patternMeta, p string) { fn(PatternMatch{m.source, p}) })
}

// DefaultCategory is a loaded pattern with its source's own category.
type DefaultCategory = defaultCategory

// DefaultCategories lists every loaded pattern with its source default.
func DefaultCategories(db *UADB) []DefaultCategory { return db.defaultCategories() }

func (d DefaultCategory) Fields() (PatternSource, string, Category) {
	return d.source, d.pattern, d.category
}

// Valid and Rank expose the category helpers.
func (c Category) Valid() bool { return c.valid() }
func (c Category) Rank() int   { return c.rank() }

// TruncateUTF8 exposes truncateUTF8.
var TruncateUTF8 = truncateUTF8
