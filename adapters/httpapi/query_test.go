package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestEveryRouteHasQueryRule fails when a /v1 route has no entry in
// queryParams, so that a new route states which parameters it reads
// instead of refusing them all by default, and when an entry names a
// route that no longer exists.
func TestEveryRouteHasQueryRule(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	routes := map[Route]bool{}
	for _, r := range f.srv.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") || r.Method == http.MethodOptions {
			continue // preflight is not checked
		}
		if r.Method == http.MethodHead {
			r.Method = http.MethodGet // checked as GET
		}
		routes[r] = true
		if _, ok := queryParams[r]; !ok {
			t.Errorf("%s %s has no entry in queryParams (adapters/httpapi/query.go): add\n"+
				"\t{http.Method%s%s, %q}: accepts(),\n"+
				"with the names its handler reads with c.Query (paged... for cursor and limit), and document them in the README",
				r.Method, r.Path, r.Method[:1], strings.ToLower(r.Method[1:]), r.Path)
		}
	}
	for r := range queryParams {
		if !routes[r] {
			t.Errorf("queryParams has an entry for %s %s, which no route serves: remove it", r.Method, r.Path)
		}
	}
}

// queryProblem is the part of a problem these tests read.
type queryProblem struct {
	Code   string         `json:"code"`
	Detail string         `json:"detail"`
	Errors []problemField `json:"errors"`
}

// TestUnknownQueryParametersAreRefused asks each route family for its
// documented parameters, which must answer as usual, then for the same
// with a typo and a wish added, which must be 400 unknown_parameter naming
// both, sorted.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	form := f.createForm(t, contactForm())
	f.publish(t, "post", "Hello")
	f.publish(t, "page", "About")
	entry := f.createEntry(t, map[string]any{"kind": "post", "title": "Draft", "body": "text"})
	hook := f.createWebhook(t, "acme", map[string]any{"url": "https://hooks.example.com/keel", "events": []string{"submission.created"}})

	cases := []struct {
		method, path, query string
		want                int
	}{
		{"GET", "/v1/me", "", http.StatusOK},
		{"GET", "/v1/instance", "", http.StatusOK},
		{"GET", "/v1/users", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/audit-events", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme", "", http.StatusOK},
		{"PATCH", "/v1/workspaces/acme", "", http.StatusOK},
		{"GET", "/v1/workspaces/acme/members", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/api-keys", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/audit-events", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/messages", "status=pending&cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/events", "after=&type=form.created&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/webhooks", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/webhooks/" + hook.ID, "", http.StatusOK},
		{"GET", "/v1/workspaces/acme/webhooks/" + hook.ID + "/deliveries", "status=pending&cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/forms", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/forms/" + form, "", http.StatusOK},
		{"GET", "/v1/workspaces/acme/forms/" + form + "/submissions",
			"status=new&since=2026-01-01T00:00:00Z&until=2027-01-01T00:00:00Z&q=ada&cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/forms/" + form + "/submissions/export", "format=jsonl", http.StatusOK},
		{"GET", "/v1/workspaces/acme/entries", "kind=post&status=published&tag=news&q=hello&cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/workspaces/acme/entries/" + entry.ID, "", http.StatusOK},
		{"GET", "/v1/workspaces/acme/entries/" + entry.ID + "/revisions", "cursor=&limit=5", http.StatusOK},
		{"GET", "/v1/sites/acme/posts", "tag=news&q=hello&cursor=&limit=5", http.StatusOK},
		{"HEAD", "/v1/sites/acme/posts", "tag=news&limit=5", http.StatusOK},
		{"GET", "/v1/sites/acme/posts/hello", "", http.StatusOK},
		{"GET", "/v1/sites/acme/pages/about", "", http.StatusOK},
		{"GET", "/v1/sites/acme/feed.xml", "", http.StatusOK},
		{"GET", "/v1/sites/acme/sitemap.xml", "", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var body any
			if tc.method == http.MethodPatch {
				body = map[string]any{}
			}
			path := tc.path
			if tc.query != "" {
				path += "?" + tc.query
			}
			if w := f.api(t, tc.method, path, body); w.Code != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, path, w.Code, w.Body, tc.want)
			}
			typos := "staus=new&sort=title"
			if tc.query != "" {
				typos = tc.query + "&" + typos
			}
			w := f.invalid().api(t, tc.method, tc.path+"?"+typos, body)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("%s %s?%s: %d %s, want 400", tc.method, tc.path, typos, w.Code, w.Body)
			}
			if tc.method == http.MethodHead {
				return // no body
			}
			p := decodeBody[queryProblem](t, w, http.StatusBadRequest)
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field+" "+e.Code)
			}
			want := []string{"query.sort unknown_parameter", "query.staus unknown_parameter"}
			if p.Code != "unknown_parameter" || !slices.Equal(fields, want) || !strings.Contains(p.Detail, "sort, staus") {
				t.Errorf("problem = %+v, want unknown_parameter naming %v", p, want)
			}
		})
	}
}

// TestQueryCheckExemptions: the public form endpoint takes what a browser
// sends to it, tracking parameters included; preflight is not checked;
// and a refusal on a public route carries its CORS headers.
func TestQueryCheckExemptions(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	form := f.createForm(t, map[string]any{"name": "Contact", "fields": []map[string]any{{"name": "email", "type": "email"}}})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/forms/"+form+"/submissions?utm_source=news&fbclid=x",
		strings.NewReader(`{"email":"ada@example.com"}`))
	req.Header.Set("Content-Type", "application/json")
	if w := f.serve(req); w.Code != http.StatusCreated {
		t.Fatalf("submission with tracking parameters: %d %s", w.Code, w.Body)
	}
	req = httptest.NewRequestWithContext(t.Context(), http.MethodOptions, "/v1/sites/acme/posts?utm_source=news", nil)
	req.Header.Set("Origin", "https://www.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	if w := f.serve(req); w.Code != http.StatusNoContent {
		t.Fatalf("preflight with a query: %d %s", w.Code, w.Body)
	}
	w := f.invalid().public(t, "/v1/sites/acme/posts?tags=news", "Origin", "https://www.example.com")
	if w.Code != http.StatusBadRequest || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("public typo: %d, Access-Control-Allow-Origin %q; %s", w.Code, w.Header().Get("Access-Control-Allow-Origin"), w.Body)
	}
}

func TestUnknownParams(t *testing.T) {
	t.Parallel()
	rule := accepts("cursor", "limit")
	long := strings.Repeat("é", 80)
	var many []string
	for i := range 60 {
		many = append(many, fmt.Sprintf("p%02d=1", i))
	}
	cases := []struct {
		name, raw string
		want      []string
	}{
		{"accepted", "cursor=abc&limit=5", nil},
		{"empty pairs", "&&limit=5&", nil},
		{"a name without value", "cursor&limit", nil},
		{"escaped accepted name", "%6Cimit=5", nil},
		{"repeated unknown, sorted once", "z=1&a=1&z=2&limit=1", []string{"a", "z"}},
		{"case matters", "Limit=5", []string{"Limit"}},
		{"escaped unknown name", "so%72t=x&a+b=1", []string{"a b", "sort"}},
		{"an escape that does not decode", "%zz=1", []string{"%zz"}},
		{"semicolons hide parameters", "limit=5;cursor=x", []string{"limit=5;cursor=x"}},
		{"empty name", "=x", []string{""}},
		{"at most 50", strings.Join(many, "&"), func() []string {
			var w []string
			for i := range 50 {
				w = append(w, fmt.Sprintf("p%02d", i))
			}
			return w
		}()},
		{"long names whole here, cut in the problem", long + "=1", []string{long}},
	}
	for _, tc := range cases {
		if got := unknownParams(rule, tc.raw); !slices.Equal(got, tc.want) {
			t.Errorf("%s: unknownParams(%q) = %q, want %q", tc.name, tc.raw, got, tc.want)
		}
	}
	if got := unknownParams(acceptsAnything(), "x=1"); len(got) != 1 {
		t.Errorf("unknownParams does not itself exempt; queryRuleFor does: got %q", got)
	}
	if _, checked := queryRuleFor(http.MethodPost, "/v1/forms/:form/submissions"); checked {
		t.Error("the public submission endpoint is checked")
	}
	if _, checked := queryRuleFor(http.MethodOptions, "/v1/sites/:site/posts"); checked {
		t.Error("preflight is checked")
	}
	if r, _ := queryRuleFor(http.MethodHead, "/v1/sites/:site/posts"); !slices.Contains(r.names, "tag") {
		t.Error("HEAD is not checked as GET")
	}
	if r, checked := queryRuleFor(http.MethodGet, "/v1/no-such-route"); !checked || len(r.names) != 0 {
		t.Error("a route without an entry accepts parameters")
	}
}

// TestLongParameterNamesAreCut: a name is echoed cut to maxKeyEcho bytes,
// so that a long one does not make the problem as long again.
func TestLongParameterNamesAreCut(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	w := f.invalid().api(t, http.MethodGet, "/v1/me?"+strings.Repeat("é", 80)+"=1", nil)
	p := decodeBody[queryProblem](t, w, http.StatusBadRequest)
	if want := "query." + strings.Repeat("é", 50) + "…"; len(p.Errors) != 1 || p.Errors[0].Field != want {
		t.Errorf("errors = %+v, want one field %q", p.Errors, want)
	}
	if want := "This endpoint takes no query parameters."; p.Errors[0].Message != want {
		t.Errorf("message = %q, want %q", p.Errors[0].Message, want)
	}
	b, _ := json.Marshal(p)
	if len(b) > 600 {
		t.Errorf("problem is %d bytes", len(b))
	}
}

// TestQueryCheckAllocatesNothing: finding a route's rule and checking a
// query it accepts cost no allocation, so the check is free on every
// valid request.
func TestQueryCheckAllocatesNothing(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		rule, _ := queryRuleFor(http.MethodGet, "/v1/workspaces/:ws/forms/:form/submissions")
		if unknownParams(rule, "status=new&q=ada%20l&cursor=abc&limit=50") != nil {
			panic("refused")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per check, want 0", n)
	}
}
