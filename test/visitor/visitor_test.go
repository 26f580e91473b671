// Package visitor posts plain HTML forms to the keel binary from a real
// browser (Debian's Chromium, driven by chromedp), as a website's visitor
// does: a page on another origin holds a <form> whose action is Keel's
// submission URL and whose submit button has a name. For each refusal
// (invalid values, an unknown field, a closed form, a body over the
// limit, the rate limit), a form with an error URL must send the browser
// there with the codes in the query, and a form without one must show
// Keel's page, in the browser's language, with the form's labels and
// limits.
package visitor

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/test/browser"
	"github.com/keelhq/keel/test/keelproc"
)

func TestMain(m *testing.M) {
	keelproc.Main(m)
}

// maxBody is keel serve's body limit here (KEEL_MAX_BODY_BYTES), small
// enough for a textarea to pass it.
const maxBody = 4096

// site is the website the forms are on: /form?action=…&extra=…&button=…
// is a page with the contact form posting to action (extra adds an input
// the Keel form does not define, button gives the submit button, named
// send, that value), /oops and /thanks are its error and success pages,
// which show the query they got.
func site(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		q := r.URL.Query()
		switch r.URL.Path {
		case "/form":
			extra := ""
			if name := q.Get("extra"); name != "" {
				extra = fmt.Sprintf(`<label>Nickname <input name="%s" value="Ada"></label>`, html.EscapeString(name))
			}
			button := ""
			if value := q.Get("button"); value != "" {
				button = fmt.Sprintf(` value="%s"`, html.EscapeString(value))
			}
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Contact</title></head><body><main>
<form method="post" action="%s">
<label>Your name <input id="name" name="name"></label>
<label>E-mail <input id="email" name="email"></label>
<label>Message <textarea id="message" name="message"></textarea></label>
%s
<button id="send" name="send"%s>Send</button>
</form></main></body></html>`, html.EscapeString(q.Get("action")), extra, button)
		case "/oops", "/thanks":
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Site</title></head><body><main><h1 id="site">%s</h1><p id="query">%s</p></main></body></html>`,
				r.URL.Path, html.EscapeString(r.URL.RawQuery))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// env is what one case needs: keel serve, the owner's token and the site.
type env struct {
	p     *keelproc.Proc
	token string
	site  *httptest.Server
}

// form creates a form with labels and limits; redirects adds the site's
// success and error URLs, closed closes it.
func (e env) form(t *testing.T, redirects, closed bool) string {
	t.Helper()
	def := map[string]any{
		"name": "Contact",
		"fields": []map[string]any{
			{"name": "name", "label": "Your name", "type": "text", "required": true, "min_length": 3},
			{"name": "email", "label": "E-mail", "type": "email", "required": true},
			{"name": "message", "label": "Message", "type": "textarea"},
		},
	}
	if redirects {
		def["redirects"] = map[string]string{"success": e.site.URL + "/thanks", "error": e.site.URL + "/oops?from=contact"}
	}
	if closed {
		def["status"] = "closed"
	}
	var f struct{ ID string }
	e.p.MustCall(t, "POST", "/v1/workspaces/site/forms", e.token, def, 201, &f)
	return f.ID
}

// visit is a result of posting the form in the browser: where the browser
// ended up and what the page says.
type visit struct {
	URL, Lang, Text string
}

// post opens the site's page for form in the tab ctx, whose browser then
// asks for language, fills it and presses its button.
func (e env) post(t *testing.T, ctx context.Context, form, language, name, email, message, extra string) visit {
	t.Helper()
	return e.postWithButton(t, ctx, form, language, name, email, message, extra, "")
}

// postWithButton is post with a value on the submit button, which the
// browser then sends as send=<value>.
func (e env) postWithButton(t *testing.T, ctx context.Context, form, language, name, email, message, extra, button string) visit {
	t.Helper()
	action := e.p.URL + "/v1/forms/" + form + "/submissions"
	page := e.site.URL + "/form?" + url.Values{"action": {action}, "extra": {extra}, "button": {button}}.Encode()
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": language}}); err != nil {
		t.Fatalf("set Accept-Language: %v", err)
	}
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("send"))}
	// A field left empty is left alone: chromedp's SetValue refuses "".
	for id, value := range map[string]string{"name": name, "email": email, "message": message} {
		if value != "" {
			steps = append(steps, chromedp.SetValue(chromedp.ID(id), value))
		}
	}
	// Either Keel's page or the site's has a heading; the form has none.
	steps = append(steps, chromedp.Click(chromedp.ID("send")), chromedp.WaitVisible(chromedp.CSS("h1")))
	err := chromedp.Do(ctx, steps...)
	if err != nil {
		t.Fatalf("post the form in Chromium: %v", err)
	}
	var v visit
	if v.URL, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
		t.Fatal(err)
	}
	if v.Lang, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`)); err != nil {
		t.Fatal(err)
	}
	if v.Text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); err != nil {
		t.Fatal(err)
	}
	return v
}

// redirected returns the query of the site's error page that v shows, or
// fails.
func (v visit) redirected(t *testing.T, site string) url.Values {
	t.Helper()
	u, err := url.Parse(v.URL)
	if err != nil || !strings.HasPrefix(v.URL, site+"/oops?") {
		t.Fatalf("the browser is at %q, want the site's error page\n%s", v.URL, v.Text)
	}
	if u.Query().Get("from") != "contact" {
		t.Errorf("the error URL's own query is lost: %s", v.URL)
	}
	return u.Query()
}

// keelPage checks that v is Keel's page in lang holding every want.
func (v visit) keelPage(t *testing.T, keel, lang string, want ...string) {
	t.Helper()
	if !strings.HasPrefix(v.URL, keel+"/v1/forms/") || v.Lang != lang {
		t.Fatalf("the browser is at %q in %q, want Keel's page in %s\n%s", v.URL, v.Lang, lang, v.Text)
	}
	for _, s := range want {
		if !strings.Contains(v.Text, s) {
			t.Errorf("Keel's page lacks %q:\n%s", s, v.Text)
		}
	}
}

func TestVisitorRefusalsInABrowser(t *testing.T) {
	t.Parallel()
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_MAX_BODY_BYTES=" + fmt.Sprint(maxBody),
		// One submission per client and form a minute: a second one is 429.
		"KEEL_SUBMIT_PER_IP=1",
	})
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
	p.MustCall(t, "POST", "/v1/workspaces", setup.Token, map[string]any{"name": "Harbour Site", "slug": "site"}, 201, nil)
	e := env{p: p, token: setup.Token, site: site(t)}
	big := strings.Repeat("x", maxBody+100)

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		ctx := browser.New(t, 2*time.Minute)
		q := e.post(t, ctx, e.form(t, true, false), "en", "Al", "nope", "", "").redirected(t, e.site.URL)
		if q.Get("error") != "validation_failed" || q.Get("fields") != "name:too_short,email:invalid" {
			t.Errorf("error redirect query %v", q)
		}
		e.post(t, ctx, e.form(t, false, false), "fr-CH, fr;q=0.9, en;q=0.8", "Al", "nope", "", "").keelPage(t, p.URL, "fr",
			"Veuillez vérifier vos saisies", "Your name: Utilisez au moins 3 caractères.", "E-mail: Saisissez une adresse e-mail.")
	})
	t.Run("UnknownField", func(t *testing.T) {
		t.Parallel()
		ctx := browser.New(t, 2*time.Minute)
		// The input and the button are two names the form does not
		// define, which no single button explains: both are refused.
		q := e.post(t, ctx, e.form(t, true, false), "en", "Ada", "ada@example.com", "", "nickname").redirected(t, e.site.URL)
		if q.Get("error") != "unknown_field" || q.Get("fields") != "nickname:unknown,send:unknown" {
			t.Errorf("error redirect query %v", q)
		}
		e.post(t, ctx, e.form(t, false, false), "es", "Ada", "ada@example.com", "", "nickname").keelPage(t, p.URL, "es",
			"El formulario envió campos inesperados", "nickname")
	})
	t.Run("ButtonWithValue", func(t *testing.T) {
		t.Parallel()
		// <button name="send" value="Send"> sends send=Send, which the
		// form does not define: the submission is stored without it, the
		// browser lands on the thanks page, and the submission names the
		// field it ignored.
		ctx := browser.New(t, 2*time.Minute)
		form := e.form(t, true, false)
		v := e.postWithButton(t, ctx, form, "en", "Ada", "ada@example.com", "Hello", "", "Send")
		if !strings.HasPrefix(v.URL, e.site.URL+"/thanks") {
			t.Fatalf("the post ended at %q, want the site's thanks page\n%s", v.URL, v.Text)
		}
		var list struct {
			Data []struct {
				Values       map[string]any `json:"values"`
				IgnoredField string         `json:"ignored_field"`
			} `json:"data"`
		}
		e.p.MustCall(t, "GET", "/v1/workspaces/site/forms/"+form+"/submissions", e.token, nil, 200, &list)
		if len(list.Data) != 1 || list.Data[0].IgnoredField != "send" || list.Data[0].Values["send"] != nil || list.Data[0].Values["message"] != "Hello" {
			t.Errorf("stored submissions %+v, want one with send ignored", list.Data)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		t.Parallel()
		ctx := browser.New(t, 2*time.Minute)
		q := e.post(t, ctx, e.form(t, true, true), "en", "Ada", "ada@example.com", "", "").redirected(t, e.site.URL)
		if q.Get("error") != "form_closed" {
			t.Errorf("error redirect query %v", q)
		}
		e.post(t, ctx, e.form(t, false, true), "de-AT, de;q=0.9", "Ada", "ada@example.com", "", "").keelPage(t, p.URL, "de",
			"Dieses Formular ist geschlossen")
	})
	t.Run("TooLarge", func(t *testing.T) {
		t.Parallel()
		ctx := browser.New(t, 2*time.Minute)
		q := e.post(t, ctx, e.form(t, true, false), "en", "Ada", "ada@example.com", big, "").redirected(t, e.site.URL)
		if q.Get("error") != "body_too_large" {
			t.Errorf("error redirect query %v", q)
		}
		e.post(t, ctx, e.form(t, false, false), "ja, en;q=0.5", "Ada", "ada@example.com", big, "").keelPage(t, p.URL, "en",
			"Your submission is too large", "Send at most 4 KB.")
	})
	t.Run("RateLimited", func(t *testing.T) {
		t.Parallel()
		// The first post of each form is accepted, its submit button's
		// name ignored; the second is over the limit.
		ctx := browser.New(t, 2*time.Minute)
		redirecting, plain := e.form(t, true, false), e.form(t, false, false)
		if v := e.post(t, ctx, redirecting, "en", "Ada", "ada@example.com", "Hello", ""); !strings.HasPrefix(v.URL, e.site.URL+"/thanks") {
			t.Fatalf("the first post ended at %q, want the site's thanks page\n%s", v.URL, v.Text)
		}
		q := e.post(t, ctx, redirecting, "en", "Ada", "ada@example.com", "Hello", "").redirected(t, e.site.URL)
		if q.Get("error") != "rate_limited" || q.Get("retry_after") == "" {
			t.Errorf("error redirect query %v", q)
		}
		e.post(t, ctx, plain, "fr", "Ada", "ada@example.com", "Hello", "").keelPage(t, p.URL, "fr", "Merci", "« Contact »")
		e.post(t, ctx, plain, "fr", "Ada", "ada@example.com", "Hello", "").keelPage(t, p.URL, "fr", "Trop d’envois", "Veuillez patienter")
	})
}
