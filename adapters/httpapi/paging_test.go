package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"
)

var linkNextRE = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// followLinks reads a list from path by its Link headers alone and checks
// that every page agrees with itself: has_more, next_cursor and the Link
// header are all present or all absent, the link carries next_cursor in
// param, and it keeps the request's path and other parameters.
func followLinks(t *testing.T, get func(path string) *httptest.ResponseRecorder, path, param string) (ids []string, pages int) {
	t.Helper()
	for path != "" {
		w := get(path)
		page := decodeBody[listResponse[json.RawMessage]](t, w, http.StatusOK)
		pages++
		for _, d := range page.Data {
			var item struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(d, &item)
			ids = append(ids, item.ID)
		}
		links := w.Header().Values("Link")
		if page.HasMore != (page.NextCursor != nil) || page.HasMore != (len(links) == 1) {
			t.Fatalf("GET %s: has_more %v, next_cursor %v, Link %q: want all or none", path, page.HasMore, page.NextCursor, links)
		}
		if !page.HasMore {
			return ids, pages
		}
		m := linkNextRE.FindStringSubmatch(links[0])
		if m == nil {
			t.Fatalf("GET %s: Link %q, want <…>; rel=\"next\"", path, links[0])
		}
		next, err := url.Parse(m[1])
		if err != nil {
			t.Fatalf("GET %s: Link %q: %v", path, links[0], err)
		}
		prev, _ := url.Parse(path)
		q, pq := next.Query(), prev.Query()
		if next.Path != prev.Path || next.Host != "" || q.Get(param) != *page.NextCursor {
			t.Fatalf("GET %s: Link %q, want the same path with %s=%s", path, m[1], param, *page.NextCursor)
		}
		for k := range pq {
			if k != param && q.Get(k) != pq.Get(k) {
				t.Fatalf("GET %s: Link %q lost %s=%s", path, m[1], k, pq.Get(k))
			}
		}
		path = m[1]
	}
	return ids, pages
}

func TestListsLinkTheirNextPage(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	for range 3 {
		f.createForm(t, contactForm())
	}
	api := func(path string) *httptest.ResponseRecorder { return f.api(t, http.MethodGet, path, nil) }
	ids, pages := followLinks(t, api, "/v1/workspaces/acme/forms?limit=2", "cursor")
	if len(ids) != 3 || pages != 2 {
		t.Errorf("forms by Link: %d in %d pages, want 3 in 2", len(ids), pages)
	}
	// The change feed's cursor is after=, and its type filter is kept.
	ids, pages = followLinks(t, api, "/v1/workspaces/acme/events?type=form.created&limit=1", "after")
	if len(ids) != 3 || pages != 3 {
		t.Errorf("events by Link: %d in %d pages, want 3 in 3", len(ids), pages)
	}
	// A list that fits one page says so in the body and sends no Link.
	w := f.api(t, http.MethodGet, "/v1/workspaces/acme/forms", nil)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["has_more"] != false || body["next_cursor"] != nil || w.Header().Get("Link") != "" {
		t.Errorf("one page: %s, Link %q; want has_more false, next_cursor null, no Link", w.Body, w.Header().Get("Link"))
	}
}

// TestPublicPostsLinkTheirNextPage: the public list's Link is cached with
// its page, so it is built from the canonical page and still leads on.
func TestPublicPostsLinkTheirNextPage(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	for _, title := range []string{"One", "Two", "Three"} {
		f.publish(t, "post", title)
		f.clock.Add(time.Second)
	}
	public := func(path string) *httptest.ResponseRecorder { return f.public(t, path) }
	for range 2 { // filled, then from the cache
		ids, pages := followLinks(t, public, "/v1/sites/acme/posts?limit=1&tag=news", "cursor")
		if len(ids) != 3 || pages != 3 {
			t.Errorf("posts by Link: %d in %d pages, want 3 in 3", len(ids), pages)
		}
	}
}
