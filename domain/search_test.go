package domain_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keelhq/keel/domain"
)

func TestSearchWords(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{`  "*" -- NEAR( ) ^ : ' \ `, []string{"near"}},
		{"Crème brûlée", []string{"creme", "brulee"}},
		{"CRÈME-FRAÎCHE, s'il vous plaît!", []string{"creme", "fraiche", "s", "il", "vous", "plait"}},
		{"Straße Œuvre Ærø", []string{"strasse", "oeuvre", "aero"}},
		{"e\u0301te\u0301 ete", []string{"ete", "ete"}}, // combining accents
		{"Go 1.26, x² ½", []string{"go", "1", "26", "x²", "½"}},
		{"Москва 東京タワー हिन्दी", []string{"moskva", "東京タワー", "हिनदी"}}, // the virama is a combining mark
		{"snake_case and-dash", []string{"snake", "case", "and", "dash"}},
	} {
		if got := domain.SearchWords(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("SearchWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSearchWordsAreCut(t *testing.T) {
	t.Parallel()
	got := domain.SearchWords(strings.Repeat("é", 100) + " x")
	if len(got) != 2 || utf8.RuneCountInString(got[0]) != domain.MaxSearchWordLen || got[1] != "x" {
		t.Fatalf("SearchWords(100 × é) = %q, want a word of %d runes, then x", got, domain.MaxSearchWordLen)
	}
}

func TestSearchQueryDropsRepeatsAndStops(t *testing.T) {
	t.Parallel()
	if got := domain.SearchQuery("Crème creme CRÈME brûlée"); !slices.Equal(got, []string{"creme", "brulee"}) {
		t.Errorf("SearchQuery = %q", got)
	}
	many := make([]string, 100)
	for i := range many {
		many[i] = strings.Repeat("w", i+1)
	}
	if got := domain.SearchQuery(strings.Join(many, " ")); len(got) != domain.MaxSearchQueryWords || got[0] != "w" {
		t.Errorf("SearchQuery(100 words) has %d words, want the first %d", len(got), domain.MaxSearchQueryWords)
	}
}

func TestSearchText(t *testing.T) {
	t.Parallel()
	e := newPost(t, domain.EntryContent{Title: "Crème brûlée", Body: "ignored", Excerpt: "Sweet!", Tags: []string{"Dessert"}})
	e = domain.RehydrateEntry(withRendered(e.Record(), "A custard."))
	if got, want := domain.SearchText(e), "creme brulee dessert sweet a custard"; got != want {
		t.Errorf("SearchText = %q, want %q", got, want)
	}
	long := domain.RehydrateEntry(withRendered(e.Record(), strings.Repeat("word ", domain.MaxSearchTextBytes)))
	if got := domain.SearchText(long); len(got) > domain.MaxSearchTextBytes || !strings.HasPrefix(got, "creme brulee") || strings.HasSuffix(got, " ") {
		t.Errorf("SearchText of a long body: %d bytes, starts %q", len(got), got[:20])
	}
}

func withRendered(r domain.EntryRecord, text string) domain.EntryRecord {
	r.Rendered = domain.Rendered{HTML: "<p>" + text + "</p>", Text: text}
	return r
}

func TestMatchesSearch(t *testing.T) {
	t.Parallel()
	text := "creme brulee dessert"
	for _, tt := range []struct {
		q    string
		want bool
	}{
		{"", true}, {"bru", true}, {"BRÛ crè", true}, {"rulee", false}, {"creme zebra", false}, {"cremes", false},
	} {
		if got := domain.MatchesSearch(text, domain.SearchQuery(tt.q)); got != tt.want {
			t.Errorf("MatchesSearch(%q) = %v, want %v", tt.q, got, tt.want)
		}
	}
}
