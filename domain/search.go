package domain

import (
	"slices"
	"strings"
	"unicode"
)

// Limits on the words full-text search indexes. A word is cut, not
// dropped, at MaxSearchWordLen runes, in documents and queries alike, so a
// long query word still finds the long word it starts. The text indexed
// per entry stops at MaxSearchTextBytes: PostgreSQL refuses a tsvector
// over 1 MB, and a body that long says what it is about well before.
const (
	MaxSearchWordLen   = 64
	MaxSearchTextBytes = 256 << 10
)

// SearchWords splits s into the words full-text search compares: runs of
// letters and digits, lower-cased, with the accents of the Latin, Greek
// and Cyrillic letters Slugify knows removed or spelled in ASCII ("Crème"
// → "creme", "Straße" → "strasse") and combining accents dropped. Everything else (spaces,
// punctuation, quotes, symbols, a search engine's operators) separates
// words and never reaches a query, so no input can be a syntax error.
//
// Every implementation of search indexes and queries these words, which
// is what makes them agree on what a query finds.
func SearchWords(s string) []string {
	var words []string
	var w strings.Builder
	n := 0 // runes in w
	flush := func() {
		if w.Len() > 0 {
			words = append(words, w.String())
			w.Reset()
		}
		n = 0
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			// A combining accent belongs to the letter before it: drop
			// it without ending the word, as its precomposed form would.
			continue
		case !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.In(r, unicode.Mc, unicode.Me):
			// Spacing marks stay: in scripts such as Devanagari they are
			// vowels inside the word.
			flush()
			continue
		}
		r = unicode.ToLower(r)
		folded, ok := transliterate[r]
		if !ok {
			folded = string(r)
		}
		for _, f := range folded {
			if n < MaxSearchWordLen {
				w.WriteRune(f)
				n++
			}
		}
	}
	flush()
	return words
}

// MaxSearchQueryWords bounds the words of a query that count, so that a
// pasted page of text cannot become a query that costs seconds.
const MaxSearchQueryWords = 32

// SearchQuery returns the words of a search query: SearchWords without
// repeats, the first MaxSearchQueryWords of them. None means no filter.
func SearchQuery(q string) []string {
	var out []string
	for _, w := range SearchWords(q) {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
		if len(out) == MaxSearchQueryWords {
			break
		}
	}
	return out
}

// SearchText is what full-text search indexes for an entry: the words of
// its title, tags, written excerpt and body text, joined by single spaces
// and cut after MaxSearchTextBytes at a word boundary. The title comes
// first so that a cut never loses it. A derived excerpt is not repeated:
// its words are the body's.
func SearchText(e Entry) string {
	var b strings.Builder
	for _, part := range append([]string{e.content.Title, strings.Join(e.content.Tags, " "), e.content.Excerpt}, e.rendered.Text) {
		for _, w := range SearchWords(part) {
			if b.Len()+1+len(w) > MaxSearchTextBytes {
				return b.String()
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
	}
	return b.String()
}

// MatchesSearch reports whether every word of query starts a word of
// text, a SearchText: the rule every search implementation follows. A
// query without words matches everything.
func MatchesSearch(text string, query []string) bool {
	if len(query) == 0 {
		return true
	}
	words := strings.Fields(text)
	for _, q := range query {
		found := false
		for _, w := range words {
			if strings.HasPrefix(w, q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
