package domain

import (
	"regexp"
	"testing"
)

// linkPattern is what countLinks counts, as a regular expression: the
// scanner must agree with it on every input.
var linkPattern = regexp.MustCompile(`(?i)\bhttps?://|\bwww\.`)

// FuzzCountLinks: countLinks counts as many links as linkPattern finds,
// on the seeds below in every test run and on whatever the fuzzer makes.
func FuzzCountLinks(f *testing.F) {
	for _, s := range []string{
		"", "hello", "http://a", "HTTPS://A", "hTtP://x https://y", "www.example.com", "WWW.x",
		"see http://www.example.com", "xhttp://a", "_www.a", "1www.a", "-www.a", "(https://a)",
		"http:/a", "https//a", "http://http://a", "wwww.a", "ww.a", "www", "http://", "é http://a",
		"\xffhttp://a", "a\nwww.b\thttps://c", "ht", "https:", "www.www.a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := countLinks(s), len(linkPattern.FindAllStringIndex(s, -1)); got != want {
			t.Fatalf("countLinks(%q) = %d, the pattern finds %d", s, got, want)
		}
	})
}
