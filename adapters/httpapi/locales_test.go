package httpapi

import (
	"encoding/xml"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// translate sets an entry's locale and the entry it translates.
func (f *formsFixture) translate(t *testing.T, id, locale, of string) *http.Response {
	t.Helper()
	w := f.api(t, http.MethodPut, "/v1/workspaces/acme/entries/"+id+"/translation", map[string]any{"locale": locale, "translation_of": of})
	return w.Result()
}

func (f *formsFixture) publishEntry(t *testing.T, id string) {
	t.Helper()
	if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+id+"/publish", nil); w.Code != http.StatusOK {
		t.Fatalf("publish: %d %s", w.Code, w.Body)
	}
}

// TestLocales follows a site in three languages: a translation group of
// an English post with its French and German translations, an English
// post alone and a post without a locale. Lists, single entries and the
// feed follow the workspace's fallback chain; the sitemap links the
// translations with hreflang.
func TestLocales(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{publicURL: "https://api.example.com"})
	w := f.api(t, http.MethodPut, "/v1/workspaces/acme/locales", map[string]any{"default_locale": "en", "fallbacks": map[string][]string{"fr-CA": {"fr"}}})
	if got := decodeBody[siteLocalesDTO](t, w, http.StatusOK); got.DefaultLocale != "en" || !slices.Equal(got.Fallbacks["fr-CA"], []string{"fr"}) {
		t.Fatalf("locales = %+v", got)
	}
	post := func(title, locale, of string) entryResponse {
		t.Helper()
		e := f.createEntry(t, map[string]any{"kind": "post", "title": title, "body": title})
		if locale != "" {
			w := f.api(t, http.MethodPut, "/v1/workspaces/acme/entries/"+e.ID+"/translation", map[string]any{"locale": locale, "translation_of": of})
			e = decodeBody[entryResponse](t, w, http.StatusOK)
			if e.Locale != locale {
				t.Fatalf("locale = %q, want %q", e.Locale, locale)
			}
		}
		f.publishEntry(t, e.ID)
		return e
	}
	hello := post("Hello", "en", "")
	bonjour := post("Bonjour", "fr", hello.ID)
	post("Hallo", "de", bonjour.ID) // joins the group through any member
	post("Only English", "en", "")
	post("Neutral", "", "")
	if bonjour.TranslationGroup != hello.ID || hello.TranslationGroup != hello.ID {
		t.Errorf("groups: hello %s, bonjour %s", hello.TranslationGroup, bonjour.TranslationGroup)
	}

	titles := func(path string) []string {
		t.Helper()
		got := decodeBody[listResponse[publicEntryResponse]](t, f.public(t, path), http.StatusOK)
		var out []string
		for _, e := range got.Data {
			out = append(out, e.Title+"/"+e.Locale)
		}
		slices.Sort(out)
		return out
	}
	for path, want := range map[string][]string{
		"/v1/sites/acme/posts?locale=fr-CA": {"Bonjour/fr", "Neutral/", "Only English/en"},
		"/v1/sites/acme/posts?locale=de":    {"Hallo/de", "Neutral/", "Only English/en"},
		"/v1/sites/acme/posts?locale=ja":    {"Hello/en", "Neutral/", "Only English/en"}, // the default, en
		"/v1/sites/acme/posts":              {"Bonjour/fr", "Hallo/de", "Hello/en", "Neutral/", "Only English/en"},
	} {
		if got := titles(path); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	// A locale the settings do not name is answered but not kept.
	before := f.cache.Len()
	titles("/v1/sites/acme/posts?locale=pt")
	if f.cache.Len() != before {
		t.Errorf("the cache kept an answer for a locale the site does not name")
	}
	for path, want := range map[string]string{
		"/v1/sites/acme/posts/hello?locale=fr-CA": "Bonjour",
		"/v1/sites/acme/posts/hello?locale=de":    "Hallo",
		"/v1/sites/acme/posts/hallo?locale=it":    "Hello", // the default locale's
		"/v1/sites/acme/posts/hello":              "Hello",
		"/v1/sites/acme/posts/neutral?locale=fr":  "Neutral",
	} {
		if got := decodeBody[publicEntryResponse](t, f.public(t, path), http.StatusOK); got.Title != want {
			t.Errorf("%s = %q, want %q", path, got.Title, want)
		}
	}
	decodeProblemCode(t, f.public(t, "/v1/sites/acme/posts?locale=fr_CA"), http.StatusUnprocessableEntity, "validation_failed")
	// A single entry lists its published translations, itself included.
	got := decodeBody[publicEntryResponse](t, f.public(t, "/v1/sites/acme/posts/bonjour"), http.StatusOK)
	if want := []translationDTO{{"de", "hallo"}, {"en", "hello"}, {"fr", "bonjour"}}; !slices.Equal(got.Translations, want) || got.Locale != "fr" {
		t.Errorf("bonjour: locale %q, translations %v, want fr and %v", got.Locale, got.Translations, want)
	}
	if got := decodeBody[publicEntryResponse](t, f.public(t, "/v1/sites/acme/posts/only-english"), http.StatusOK); got.Translations != nil {
		t.Errorf("an entry without translations lists %v", got.Translations)
	}

	// Feeds are per locale.
	var feed atomFeed
	w = f.public(t, "/v1/sites/acme/feed.xml?locale=fr")
	if err := xml.Unmarshal(w.Body.Bytes(), &feed); err != nil || w.Code != http.StatusOK {
		t.Fatalf("feed: %d %v %s", w.Code, err, w.Body)
	}
	var feedTitles []string
	for _, e := range feed.Entries {
		feedTitles = append(feedTitles, e.Title)
	}
	slices.Sort(feedTitles)
	if want := []string{"Bonjour", "Neutral", "Only English"}; !slices.Equal(feedTitles, want) {
		t.Errorf("French feed = %v, want %v", feedTitles, want)
	}
	if !strings.HasSuffix(feed.ID, ":fr") || len(feed.Links) == 0 || !strings.HasSuffix(feed.Links[0].Href, "/feed.xml?locale=fr") {
		t.Errorf("French feed: id %q, links %+v; want its own id and self link", feed.ID, feed.Links)
	}

	// The sitemap lists every page, and each translation links all three
	// with hreflang, English as x-default.
	w = f.public(t, "/v1/sites/acme/sitemap.xml")
	var sm struct {
		URLs []struct {
			Loc   string `xml:"loc"`
			Links []struct {
				XMLName  xml.Name
				Rel      string `xml:"rel,attr"`
				Hreflang string `xml:"hreflang,attr"`
				Href     string `xml:"href,attr"`
			} `xml:"http://www.w3.org/1999/xhtml link"`
		} `xml:"url"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &sm); err != nil {
		t.Fatal(err)
	}
	validateHreflangSitemap(t, w.Body.Bytes())
	alternates := map[string][]string{}
	for _, u := range sm.URLs {
		for _, l := range u.Links {
			if l.Rel != "alternate" {
				t.Errorf("%s: rel %q", u.Loc, l.Rel)
			}
			alternates[u.Loc] = append(alternates[u.Loc], l.Hreflang+"="+l.Href[strings.LastIndexByte(l.Href, '/')+1:])
		}
	}
	group := []string{"de=hallo", "en=hello", "fr=bonjour", "x-default=hello"}
	const base = "https://api.example.com/v1/sites/acme/posts/"
	for _, slug := range []string{"hello", "bonjour", "hallo"} {
		if got := alternates[base+slug]; !slices.Equal(got, group) {
			t.Errorf("alternates of %s = %v, want %v", slug, got, group)
		}
	}
	if len(sm.URLs) != 5 || len(alternates) != 3 {
		t.Errorf("sitemap: %d URLs, %d with alternates; want 5 and 3:\n%s", len(sm.URLs), len(alternates), w.Body)
	}

	// A group holds one entry per locale; the setting is validated.
	other := f.createEntry(t, map[string]any{"kind": "post", "title": "Salut"})
	if r := f.translate(t, other.ID, "fr", hello.ID); r.StatusCode != http.StatusConflict {
		t.Errorf("a second French translation = %d, want 409", r.StatusCode)
	}
	decodeProblemCode(t, f.invalid().api(t, http.MethodPut, "/v1/workspaces/acme/entries/"+other.ID+"/translation", map[string]any{"locale": "français"}), http.StatusUnprocessableEntity, "validation_failed")
	decodeProblemCode(t, f.api(t, http.MethodPut, "/v1/workspaces/acme/entries/"+other.ID+"/translation", map[string]any{"locale": "fr", "translation_of": "ent_nosuchentry"}), http.StatusUnprocessableEntity, "validation_failed")
	decodeProblemCode(t, f.invalid().api(t, http.MethodPut, "/v1/workspaces/acme/locales", map[string]any{"default_locale": "en", "fallbacks": map[string][]string{"fr-CA": {"fr", "de", "it", "es", "pt", "nl"}}}), http.StatusUnprocessableEntity, "validation_failed")
	if got := decodeBody[siteLocalesDTO](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/locales", nil), http.StatusOK); got.DefaultLocale != "en" {
		t.Errorf("locales after a refused change = %+v", got)
	}
	audit := f.api(t, http.MethodGet, "/v1/workspaces/acme/audit-events", nil).Body.String()
	if !strings.Contains(audit, `"site.locales_updated"`) || strings.Count(audit, `"entry.translation_set"`) != 4 {
		t.Errorf("audit log lacks the locale changes: %s", audit)
	}
}

// validateHreflangSitemap checks a sitemap with alternates against the
// sitemaps.org schema and the xhtml:link element search engines document
// (testdata/sitemaps), with xmllint, which scripts/test.sh installs.
func validateHreflangSitemap(t *testing.T, body []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sitemap.xml")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "xmllint", "--noout", "--nonet", "--schema", "testdata/sitemaps/sitemap-hreflang.xsd", file).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint --schema sitemap-hreflang.xsd: %v\n%s\n%s", err, out, body)
	}
}

// TestLocalesOnPages: the list of pages takes ?locale= as the list of
// posts does, keeping of each translation group the page the fallback
// chain prefers, in navigation order; its next link keeps the locale, and
// every page it lists is in the sitemap, which lists all of them.
func TestLocalesOnPages(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{publicURL: "https://api.example.com"})
	if w := f.api(t, http.MethodPut, "/v1/workspaces/acme/locales", map[string]any{"default_locale": "en", "fallbacks": map[string][]string{}}); w.Code != http.StatusOK {
		t.Fatalf("locales: %d %s", w.Code, w.Body)
	}
	page := func(title string, nav int, locale, of string) entryResponse {
		t.Helper()
		e := f.createEntry(t, map[string]any{"kind": "page", "title": title, "body": title, "nav_order": nav})
		if locale != "" {
			if r := f.translate(t, e.ID, locale, of); r.StatusCode != http.StatusOK {
				t.Fatalf("translate %s: %d", title, r.StatusCode)
			}
		}
		f.publishEntry(t, e.ID)
		return e
	}
	home := page("Home", 0, "en", "")
	page("Accueil", 0, "fr", home.ID)
	page("About", 1, "en", "")
	page("Imprint", 2, "", "")

	list := func(path string) ([]string, []string, string) {
		t.Helper()
		w := f.public(t, path)
		got := decodeBody[listResponse[publicEntryResponse]](t, w, http.StatusOK)
		var titles, urls []string
		for _, e := range got.Data {
			titles = append(titles, e.Title+"/"+e.Locale)
			urls = append(urls, e.URL)
		}
		return titles, urls, w.Header().Get("Link")
	}
	var frenchURLs []string
	for path, want := range map[string][]string{
		"/v1/sites/acme/pages?locale=fr": {"Accueil/fr", "About/en", "Imprint/"},
		"/v1/sites/acme/pages?locale=en": {"Home/en", "About/en", "Imprint/"},
		"/v1/sites/acme/pages?locale=ja": {"Home/en", "About/en", "Imprint/"}, // the default, en
		"/v1/sites/acme/pages":           {"Accueil/fr", "Home/en", "About/en", "Imprint/"},
	} {
		got, urls, _ := list(path)
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
		if path == "/v1/sites/acme/pages?locale=fr" {
			frenchURLs = urls
		}
	}
	// Page by page, the next link asks for the same locale.
	var paged []string
	for path := "/v1/sites/acme/pages?locale=fr&limit=2"; path != ""; {
		got, _, link := list(path)
		paged = append(paged, got...)
		path = ""
		if link != "" {
			path = link[strings.IndexByte(link, '<')+1 : strings.IndexByte(link, '>')]
			if !strings.Contains(path, "locale=fr") {
				t.Errorf("next link %q lost the locale", link)
			}
		}
	}
	if want := []string{"Accueil/fr", "About/en", "Imprint/"}; !slices.Equal(paged, want) {
		t.Errorf("French pages page by page = %v, want %v", paged, want)
	}
	decodeProblemCode(t, f.public(t, "/v1/sites/acme/pages?locale=fr_FR"), http.StatusUnprocessableEntity, "validation_failed")

	w := f.public(t, "/v1/sites/acme/sitemap.xml")
	var sm struct {
		URLs []struct {
			Loc string `xml:"loc"`
		} `xml:"url"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &sm); err != nil {
		t.Fatal(err)
	}
	var locs []string
	for _, u := range sm.URLs {
		locs = append(locs, u.Loc)
	}
	for _, u := range frenchURLs {
		if !slices.Contains(locs, u) {
			t.Errorf("the French list's %s is not in the sitemap %v", u, locs)
		}
	}
	if len(locs) != 4 {
		t.Errorf("sitemap lists %v, want the four pages", locs)
	}
}

// TestCreateEntryWithLocale: POST …/entries takes locale and
// translation_of, with the answers of PUT …/translation: 201 with the
// entry in the group, 409 translation_locale_taken, 422 for a malformed
// locale or an unknown entry.
func TestCreateEntryWithLocale(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	hello := f.createEntry(t, map[string]any{"kind": "post", "title": "Hello", "locale": "en"})
	bonjour := f.createEntry(t, map[string]any{"kind": "post", "title": "Bonjour", "locale": "fr", "translation_of": hello.ID})
	if hello.Locale != "en" || hello.TranslationGroup != hello.ID || bonjour.Locale != "fr" || bonjour.TranslationGroup != hello.ID || bonjour.Version != 1 {
		t.Errorf("hello %s/%s, bonjour %s/%s v%d; want en and fr in %s's group", hello.Locale, hello.TranslationGroup, bonjour.Locale, bonjour.TranslationGroup, bonjour.Version, hello.ID)
	}
	decodeProblemCode(t, f.api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post", "title": "Salut", "locale": "fr", "translation_of": hello.ID}),
		http.StatusConflict, "translation_locale_taken")
	decodeProblemCode(t, f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post", "title": "Salut", "locale": "français"}),
		http.StatusUnprocessableEntity, "validation_failed")
	decodeProblemCode(t, f.api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post", "title": "Salut", "locale": "fr", "translation_of": "ent_nosuchentry"}),
		http.StatusUnprocessableEntity, "validation_failed")
	got := decodeBody[listResponse[entryResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/entries", nil), http.StatusOK)
	if len(got.Data) != 2 {
		t.Errorf("%d entries stored, want hello and bonjour alone", len(got.Data))
	}
}
