package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keelhq/keel/domain"
)

func TestParseAcceptLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   string
	}{
		{"", ""},
		{"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr-ch:1 fr:0.9 en:0.8 de:0.7 *:0.5"},
		{"de;q=0.5, es;q=0.9, en", "en:1 es:0.9 de:0.5"},
		{"en;q=bogus, fr", "fr:1 en:0"},
		{"en;q=2, fr;q=-1", "en:0 fr:0"},
		{" ES ; Q=0.3 ", "es:0.3"},
		{"x-klingon, i-default, 1fr, fr_FR, , ;q=1, de", "x-klingon:1 i-default:1 de:1"},
		{"zh-Hant-TW;q=0.8;level=1", "zh-hant-tw:0.8"},
		{"toolongtag, en", "en:1"},
	} {
		var got []string
		for _, r := range parseAcceptLanguage(tc.header) {
			got = append(got, fmt.Sprintf("%s:%g", r.tag, r.q))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("parseAcceptLanguage(%q) = %q, want %q", tc.header, strings.Join(got, " "), tc.want)
		}
	}
}

func TestVisitorLanguage(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]string{
		"":                                "en",
		"fr-CH, fr;q=0.9, en;q=0.8":       "fr",
		"de;q=0.5, es;q=0.9":              "es",
		"ja, *;q=0.1":                     "en",
		"ja, de;q=0.2":                    "de",
		"ja":                              "en",
		"fr;q=0, de":                      "de",
		"es-419":                          "es",
		"de-AT;q=0.9, fr-CA;q=0.95":       "fr",
		"en-GB, de":                       "en",
		"fr;q=0":                          "en",
		strings.Repeat("ja, ", 20) + "fr": "en", // past the 16 ranges read
		strings.Repeat(" ", 600) + "fr":   "en", // past the 512 bytes read
	} {
		if got := visitorLanguage(header); got != want {
			t.Errorf("visitorLanguage(%.40q) = %s, want %s", header, got, want)
		}
	}
}

// FuzzAcceptLanguage: any header parses without panicking, within the
// bounds, into well-formed ranges by falling weight, and picks a shipped
// language.
func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"", "fr-CH, fr;q=0.9, en;q=0.8", "*;q=0", "de;q=1.000", "a;q=;;q=0.5,,", "es;q=1e-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		rs := parseAcceptLanguage(h)
		if len(rs) > maxAcceptLanguageRanges {
			t.Fatalf("%d ranges, more than %d", len(rs), maxAcceptLanguageRanges)
		}
		for i, r := range rs {
			if !validLangRange(r.tag) || r.q < 0 || r.q > 1 || i > 0 && r.q > rs[i-1].q {
				t.Fatalf("range %d of %q: %+v", i, h, rs)
			}
		}
		if _, ok := visitorCatalog[visitorLanguage(h)]; !ok {
			t.Fatalf("visitorLanguage(%q) = %q, not shipped", h, visitorLanguage(h))
		}
	})
}

// TestVisitorCatalogIsComplete: every language Keel ships has every text,
// with as many places for values as the English one.
func TestVisitorCatalogIsComplete(t *testing.T) {
	t.Parallel()
	en := reflect.ValueOf(visitorCatalog["en"])
	for _, lang := range []string{"en", "fr", "de", "es"} {
		tx, ok := visitorCatalog[lang]
		if !ok {
			t.Errorf("%s is not shipped", lang)
			continue
		}
		v := reflect.ValueOf(tx)
		for i := range v.NumField() {
			name, s, ref := v.Type().Field(i).Name, v.Field(i).String(), en.Field(i).String()
			if s == "" || !utf8.ValidString(s) {
				t.Errorf("%s.%s is empty", lang, name)
			}
			if strings.Count(s, "%s") != strings.Count(ref, "%s") {
				t.Errorf("%s.%s = %q has not the %d places of en's %q", lang, name, s, strings.Count(ref, "%s"), ref)
			}
			if lang != "en" && s == ref && !strings.Contains(s, "http://") {
				t.Errorf("%s.%s is the English text %q", lang, name, s)
			}
		}
	}
}

// visitorForm has labels and limits for the visitor pages to state.
func visitorForm() map[string]any {
	return map[string]any{
		"name": "Contact",
		"fields": []map[string]any{
			{"name": "name", "label": "Your name", "type": "text", "required": true, "min_length": 3},
			{"name": "email", "label": "E-mail", "type": "email", "required": true},
			{"name": "guests", "label": "Guests", "type": "number", "min": 1, "max": 12},
			{"name": "message", "type": "textarea", "max_length": 20},
		},
		"honeypot": "website",
	}
}

// TestVisitorPagesInTheVisitorsLanguage: without an error redirect, a
// refusal's page is in the best language Accept-Language asks for, names
// fields by their labels (by name when they have none) and states their
// limits.
func TestVisitorPagesInTheVisitorsLanguage(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, visitorForm())
	bad := "name=Al&email=nope&guests=40&message=" + strings.Repeat("x", 21)
	for _, tc := range []struct {
		accept string
		lang   string
		want   []string
	}{
		{"", "en", []string{"Please check your entries", "<strong>Your name</strong>: Use at least 3 characters.",
			"<strong>E-mail</strong>: Enter an e-mail address.", "<strong>Guests</strong>: Enter a number from 1 to 12.",
			"<strong>message</strong>: Use at most 20 characters."}},
		{"fr-CH, fr;q=0.9, en;q=0.8", "fr", []string{"Veuillez vérifier vos saisies", "<strong>Your name</strong>: Utilisez au moins 3 caractères.",
			"<strong>Guests</strong>: Saisissez un nombre de 1 à 12."}},
		{"en;q=0.5, de", "de", []string{"Bitte prüfen Sie Ihre Angaben", "<strong>Your name</strong>: Verwenden Sie mindestens 3 Zeichen."}},
		{"ja, es;q=0.4", "es", []string{"Revise sus datos", "<strong>Your name</strong>: Use al menos 3 caracteres."}},
		{"ja", "en", []string{"Please check your entries"}},
	} {
		w := f.postForm(t, id, bad, "Accept", browserAccept, "Accept-Language", tc.accept)
		body := w.Body.String()
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `<html lang="`+tc.lang+`">`) ||
			w.Header().Get("Content-Language") != tc.lang || !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Accept-Language") {
			t.Errorf("Accept-Language %q: %d %v, want 422 in %s\n%s", tc.accept, w.Code, w.Header(), tc.lang, body)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(body, s) {
				t.Errorf("Accept-Language %q: the page lacks %q\n%s", tc.accept, s, body)
			}
		}
	}
	w := f.postForm(t, id, "name=Ada&email=ada%40example.com", "Accept", browserAccept, "Accept-Language", "de")
	if body := w.Body.String(); w.Code != http.StatusOK || !strings.Contains(body, "Vielen Dank") || !strings.Contains(body, "„Contact“") {
		t.Errorf("German thanks = %d\n%s", w.Code, body)
	}
}

// TestSubmitButtonNameIsIgnored: a browser's post that carries one name
// the form does not define, once and short (<button name="send"
// value="Send">), is accepted without it, and the submission names it;
// two such names are refused, both named, and JSON refuses even one.
func TestSubmitButtonNameIsIgnored(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, withRedirects(contactForm()))
	for _, body := range []string{"name=Ada&email=ada%40example.com&send=", "send=Send&name=Ada&email=ada%40example.com"} {
		w := f.postForm(t, id, body, "Accept", browserAccept)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://site.example/thanks" {
			t.Fatalf("%s = %d %v", body, w.Code, w.Header())
		}
	}
	// An API client's form post is held to the same rule, and reads the
	// ignored name back on the submission.
	created := decodeBody[submittedResponse](t, f.postForm(t, id, "name=Ada&email=ada%40example.com&go=Go"), http.StatusCreated)
	got := decodeBody[submissionResponse](t, f.api(t, "GET", "/v1/workspaces/acme/submissions/"+created.ID, nil), http.StatusOK)
	if got.IgnoredField != "go" || got.Values["go"] != nil {
		t.Errorf("stored submission = %+v, want go ignored", got)
	}
	w := f.postForm(t, id, "name=Ada&email=ada%40example.com&nmae=Ada&send=Send", "Accept", browserAccept)
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.Contains(loc, "error=unknown_field") || !strings.Contains(loc, "fields=nmae%3Aunknown%2Csend%3Aunknown") {
		t.Fatalf("with a misspelt field and the button = %d %q", w.Code, loc)
	}
	w = f.postForm(t, id, "name=Ada&email=ada%40example.com&send="+strings.Repeat("x", domain.MaxSubmitButtonText+1), "Accept", browserAccept)
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.Contains(loc, "fields=send%3Aunknown") {
		t.Fatalf("with a long value = %d %q", w.Code, loc)
	}
	p := decodeProblem(t, f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com","send":"Send"}`), http.StatusUnprocessableEntity, "unknown_field")
	if len(p.Errors) != 1 || p.Errors[0].Field != "send" {
		t.Fatalf("JSON with send = %+v", p.Errors)
	}
}

// TestSubmitTooLargeInABrowser: a form post over the body limit sends a
// browser to the form's error redirect, or to a page stating the limit,
// without spending a submission; an API client still gets the problem.
func TestSubmitTooLargeInABrowser(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{maxBodyBytes: 2048})
	redirecting, plain := f.createForm(t, withRedirects(contactForm())), f.createForm(t, contactForm())
	big := "name=Ada&email=ada%40example.com&message=" + strings.Repeat("x", 3000)
	w := f.invalid().postForm(t, redirecting, big, "Accept", browserAccept)
	loc, err := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || err != nil || loc.Path != "/oops" || loc.Query().Get("error") != "body_too_large" {
		t.Fatalf("too large with an error redirect = %d %v", w.Code, w.Header())
	}
	w = f.invalid().postForm(t, plain, big, "Accept", browserAccept, "Accept-Language", "es")
	if body := w.Body.String(); w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "Su envío es demasiado grande") || !strings.Contains(body, "Envíe como máximo 2 KB.") {
		t.Fatalf("too large without one = %d\n%s", w.Code, body)
	}
	decodeProblem(t, f.invalid().postForm(t, plain, big), http.StatusRequestEntityTooLarge, "body_too_large")
	decodeProblem(t, f.invalid().submitJSON(t, plain, `{"message":"`+strings.Repeat("x", 3000)+`"}`), http.StatusRequestEntityTooLarge, "body_too_large")
}

func TestRedirectFields(t *testing.T) {
	t.Parallel()
	var fes []domain.FieldError
	for _, e := range [][2]string{
		{"email", "invalid_email"}, {"name", "required"}, {"name", "too_short"}, {"bio", "too_long"}, {"n", "out_of_range"},
		{"a,b", "unknown_field"}, {"x:y", "unknown_field"}, {"ok.name", "unknown_field"}, {"p", "pattern_mismatch"},
	} {
		fes = append(fes, domain.FieldError{Field: e[0], Code: e[1]})
	}
	got := strings.Join(redirectFields(fes), ",")
	if want := "email:invalid,name:required,bio:too_long,n:out_of_range,ok.name:unknown,p:invalid"; got != want {
		t.Errorf("redirectFields = %s, want %s", got, want)
	}
}
