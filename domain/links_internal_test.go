package domain

import (
	"regexp"
	"testing"
)

// linkPattern is what countLinks counts, as a regular expression: the
// scanner must agree with it on every input. Its case is ASCII's: (?i)
// would also fold ſ into s and the Kelvin sign into k.
var linkPattern = regexp.MustCompile(`\b[hH][tT][tT][pP][sS]?://|\b[wW][wW][wW]\.`)

// FuzzCountLinks: countLinks counts as many links as linkPattern finds,
// on the seeds below in every test run and on whatever the fuzzer makes.
func FuzzCountLinks(f *testing.F) {
	for _, s := range []string{
		"", "hello", "http://a", "HTTPS://A", "hTtP://x https://y", "www.example.com", "WWW.x",
		"see http://www.example.com", "xhttp://a", "_www.a", "1www.a", "-www.a", "(https://a)",
		"http:/a", "https//a", "http://http://a", "wwww.a", "ww.a", "www", "http://", "é http://a",
		"\xffhttp://a", "a\nwww.b\thttps://c", "ht", "https:", "www.www.a", "httpſ://a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := countLinks(s), len(linkPattern.FindAllStringIndex(s, -1)); got != want {
			t.Fatalf("countLinks(%q) = %d, the pattern finds %d", s, got, want)
		}
	})
}
