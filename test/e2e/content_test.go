package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/testdb"
)

// publishLimit is the promise for scheduled entries: every node
// serves one within five seconds of its publish_at. Edits and unpublishing
// of public content reach every node within propagationLimit.
const publishLimit = 5 * time.Second

// publicMaxAge is the KEEL_PUBLIC_MAX_AGE the content tests run with, so
// that the Cache-Control they check is the configured one, not a default.
const publicMaxAge = "37s"

// noAnonymousLimit turns off the anonymous quota: the content flow polls
// the public API every few milliseconds from one address to time each
// change, far above what a visitor may.
const noAnonymousLimit = "KEEL_RATE_LIMIT_ANONYMOUS=0"

// TestContentAcrossTwoNodes runs two keel binaries on one PostgreSQL
// database. An editor writes, schedules, edits and unpublishes a post on
// node A; node B's public API must serve it within five seconds of its
// publication time, revalidate it with 304, and forget it (its cache of
// rendered responses included) within a second of each later change.
func TestContentAcrossTwoNodes(t *testing.T) {
	t.Parallel()
	dbURL := testdb.EmptyPostgres(t)
	// Nodes behind one load balancer share the API's public URL, which
	// public entries' url fields are built on: without it each node would
	// name its own address, and their answers, ETags included, would differ.
	const publicURL = "https://api.site.test"
	a := startClusterNode(t, dbURL, "A", "KEEL_PUBLIC_MAX_AGE="+publicMaxAge, noAnonymousLimit, "KEEL_PUBLIC_URL="+publicURL)
	b := startClusterNode(t, dbURL, "B", "KEEL_PUBLIC_MAX_AGE="+publicMaxAge, noAnonymousLimit, "KEEL_PUBLIC_URL="+publicURL)
	a.public, b.public = publicURL, publicURL
	a.waitListening(t)
	b.waitListening(t)

	contentFlow(t, a, b, 3*time.Second)
	a.stop(t)
	b.stop(t)
}

// TestContentOnSQLite runs the same flow on one in-process node over
// embedded SQLite, with a shorter schedule: the writer and the reader are
// the same node, whose cache the write itself empties.
func TestContentOnSQLite(t *testing.T) {
	t.Parallel()
	base, logs, stop := startInProcess(t, map[string]string{
		"KEEL_DATA_DIR": t.TempDir(), "KEEL_HTTP_ADDR": "127.0.0.1:0", "KEEL_PUBLIC_MAX_AGE": publicMaxAge,
		"KEEL_RATE_LIMIT_ANONYMOUS": "0",
	})
	// call and mustCall need only a name and a base URL.
	n := &clusterNode{name: "sqlite", base: base}
	waitReady(t, base)
	contentFlow(t, n, n, time.Second)
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
	if logs.Find("stopped") == nil {
		t.Fatalf("no stopped line:\n%s", logs)
	}
}

// Titles of the post that goes public and of a draft that never does. Both
// hold searchWord, which search must find in the published post only.
const (
	searchWord   = "zephyr"
	postTitle    = "Zephyr launch notes"
	revisedTitle = "Zephyr launch notes, revised"
	draftTitle   = "Zephyr draft ideas"
)

// unsafeBody is Markdown whose HTML must lose its script and its
// javascript: link.
const unsafeBody = "We **launched**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) and [docs](https://example.com/docs)\n"

type entryDTO struct {
	ID          string     `json:"id"`
	Slug        string     `json:"slug"`
	Title       string     `json:"title"`
	Status      string     `json:"status"`
	Version     int        `json:"version"`
	BodyHTML    string     `json:"body_html"`
	PublishAt   *time.Time `json:"publish_at"`
	PublishedAt *time.Time `json:"published_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

type entryListDTO struct {
	Data []entryDTO `json:"data"`
}

// contentFlow is the end-to-end scenario: writer takes the
// editor's requests, reader the public's. They may be the same node.
func contentFlow(t *testing.T, writer, reader *clusterNode, publishIn time.Duration) {
	nodes := []*clusterNode{writer}
	if reader != writer {
		nodes = append(nodes, reader)
	}
	const site = "/v1/sites/blog"

	var setup struct {
		Token string `json:"token"`
	}
	writer.mustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
	tok := setup.Token
	writer.mustCall(t, "POST", "/v1/workspaces", tok, map[string]any{"name": "Blog", "slug": "blog"}, 201, nil)
	const entries = "/v1/workspaces/blog/entries"

	// Writing: the stored HTML is sanitised; a new entry is a draft at
	// version 1.
	resp, body := writer.fetch(t, "POST", entries, tok, nil, map[string]any{"kind": "post", "title": postTitle, "body": unsafeBody, "tags": []string{"news"}})
	var post entryDTO
	decode(t, resp, body, 201, &post)
	created := resp.Header.Get("ETag")
	if post.Status != "draft" || post.Version != 1 || created != `"v1"` || post.Slug != "zephyr-launch-notes" {
		t.Fatalf("created %+v with ETag %s, want a draft at version 1, ETag \"v1\", slug zephyr-launch-notes", post, created)
	}
	if low := strings.ToLower(post.BodyHTML); strings.Contains(low, "<script") || strings.Contains(low, "javascript:") ||
		!strings.Contains(post.BodyHTML, "<strong>launched</strong>") || !strings.Contains(post.BodyHTML, `href="https://example.com/docs"`) {
		t.Fatalf("body_html = %q, want the Markdown rendered without its script and javascript: link", post.BodyHTML)
	}
	var draft entryDTO
	writer.mustCall(t, "POST", entries, tok, map[string]any{"kind": "post", "title": draftTitle, "body": "Thoughts on " + searchWord + " for later."}, 201, &draft)
	postPath, draftPath := site+"/posts/"+post.Slug, site+"/posts/"+draft.Slug

	// Drafts are not public: not by slug, list, feed, sitemap or search.
	for _, n := range nodes {
		for _, p := range []string{postPath, draftPath} {
			resp, body := n.fetch(t, "GET", p, "", nil, nil)
			expectProblem(t, resp, body, 404, "not_found")
		}
	}
	checkPublic(t, reader, site, nil, nil)

	// Scheduling: publish_at ahead makes it scheduled, still not public.
	at := time.Now().Add(publishIn).UTC()
	writer.mustCall(t, "POST", entries+"/"+post.ID+"/publish", tok, map[string]any{"publish_at": at}, 200, &post)
	if post.Status != "scheduled" || post.PublishAt == nil || !post.PublishAt.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("after publish at %s: %+v, want scheduled at that time", at, post)
	}
	publishAt := *post.PublishAt
	for time.Until(publishAt) > 50*time.Millisecond {
		if resp, body := reader.fetch(t, "GET", postPath, "", nil, nil); resp.StatusCode != 404 {
			t.Fatalf("node %s served the scheduled post %s before its publish_at: %d %s", reader.name, time.Until(publishAt), resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Publication: within publishLimit of publish_at the reader serves the
	// post and lists it in its posts, feed and sitemap, which it cached
	// empty above. Its cache may lag the post itself, which it did not
	// cache (a 404 is not kept), by a poll of the counter.
	took := awaitChanges(t, publishAt, publishLimit,
		change{what: "published post: 200", node: reader, path: postPath, check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200
		}},
		change{what: "published post: listed", node: reader, path: site + "/posts", check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200 && slices.Equal(listTitles(t, b), []string{postTitle})
		}},
		change{what: "published post: in feed", node: reader, path: site + "/feed.xml", check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200 && slices.Equal(feedTitles(t, b), []string{postTitle})
		}},
		change{what: "published post: in sitemap", node: reader, path: site + "/sitemap.xml", check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200 && slices.Equal(sitemapLocs(t, b), []string{reader.links() + postPath})
		}},
	)
	logTook(t, reader, "its publish_at", took)

	resp, body = reader.fetch(t, "GET", postPath, "", nil, nil)
	var public entryDTO
	decode(t, resp, body, 200, &public)
	etag := resp.Header.Get("ETag")
	checkCacheHeaders(t, reader, resp)
	lm, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil || !lm.Equal(public.UpdatedAt.Truncate(time.Second)) {
		t.Fatalf("Last-Modified %q (%v), want updated_at %s to the second", resp.Header.Get("Last-Modified"), err, public.UpdatedAt)
	}
	if public.Title != postTitle || public.BodyHTML != post.BodyHTML || public.PublishedAt == nil || !public.PublishedAt.Equal(publishAt) {
		t.Fatalf("public post = %+v, want %q with the sanitised body, published at %s", public, postTitle, publishAt)
	}
	// Revalidation answers 304 with no body on every node: the ETag is a
	// hash of the same bytes everywhere.
	for _, n := range nodes {
		resp, body := n.fetch(t, "GET", postPath, "", map[string]string{"If-None-Match": etag}, nil)
		if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") != etag {
			t.Fatalf("node %s: If-None-Match %s = %d ETag %s body %q, want 304 with the same ETag and no body",
				n.name, etag, resp.StatusCode, resp.Header.Get("ETag"), body)
		}
	}
	checkPublic(t, reader, site, []string{postTitle}, []string{post.Slug})
	for _, n := range nodes {
		resp, body := n.fetch(t, "GET", draftPath, "", nil, nil)
		expectProblem(t, resp, body, 404, "not_found")
	}

	// Optimistic concurrency: the version the editor wrote first is stale
	// now that publication moved it on.
	resp, body = writer.fetch(t, "GET", entries+"/"+post.ID, tok, nil, nil)
	decode(t, resp, body, 200, &post)
	current := resp.Header.Get("ETag")
	if post.Status != "published" || current == created {
		t.Fatalf("entry %+v with ETag %s, want published at a version after %s", post, current, created)
	}
	rename := map[string]any{"title": revisedTitle}
	resp, body = writer.fetch(t, "PATCH", entries+"/"+post.ID, tok, map[string]string{"If-Match": created}, rename)
	expectProblem(t, resp, body, 412, "version_conflict")

	// An edit of published content: the reader's cached copy goes within
	// propagationLimit. Read everything first, so that it is cached.
	checkPublic(t, reader, site, []string{postTitle}, []string{post.Slug})
	reader.fetch(t, "GET", postPath, "", nil, nil)
	resp, body = writer.fetch(t, "PATCH", entries+"/"+post.ID, tok, map[string]string{"If-Match": current}, rename)
	decode(t, resp, body, 200, &post)
	if post.Title != revisedTitle || resp.Header.Get("ETag") == current {
		t.Fatalf("patched %+v with ETag %s, want %q at a new version", post, resp.Header.Get("ETag"), revisedTitle)
	}
	took = awaitChanges(t, time.Now(), propagationLimit,
		change{what: "edited post: new title", node: reader, path: postPath, check: func(r *http.Response, b []byte) bool {
			var e entryDTO
			return r.StatusCode == 200 && json.Unmarshal(b, &e) == nil && e.Title == revisedTitle
		}},
		change{what: "edited post: list shows new title", node: reader, path: site + "/posts", check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200 && slices.Equal(listTitles(t, b), []string{revisedTitle})
		}},
		change{what: "edited post: feed shows new title", node: reader, path: site + "/feed.xml", check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200 && slices.Equal(feedTitles(t, b), []string{revisedTitle})
		}},
	)
	logTook(t, reader, "the writer answered", took)
	for _, n := range nodes {
		resp, body := n.fetch(t, "GET", postPath, "", map[string]string{"If-None-Match": etag}, nil)
		var e entryDTO
		decode(t, resp, body, 200, &e)
		if e.Title != revisedTitle || resp.Header.Get("ETag") == etag {
			t.Fatalf("node %s: the old ETag got %+v with ETag %s, want the new title under a new ETag", n.name, e, resp.Header.Get("ETag"))
		}
	}
	checkPublic(t, reader, site, []string{revisedTitle}, []string{post.Slug})
	if got := searchSlugs(t, reader, site, "revised"); !slices.Equal(got, []string{post.Slug}) {
		t.Fatalf("search for the new title's word found %v, want [%s]", got, post.Slug)
	}

	// Unpublishing: gone from the reader, its cache included, within
	// propagationLimit. Everything is read (and cached) first.
	reader.fetch(t, "GET", postPath, "", nil, nil)
	writer.mustCall(t, "POST", entries+"/"+post.ID+"/unpublish", tok, map[string]any{"status": "draft"}, 200, &post)
	if post.Status != "draft" {
		t.Fatalf("after unpublish: %+v, want a draft", post)
	}
	took = awaitChanges(t, time.Now(), propagationLimit,
		change{what: "unpublished post: 404", node: reader, path: postPath, check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 404
		}},
		change{what: "unpublished post: not listed", node: reader, path: site + "/posts", check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200 && len(listTitles(t, b)) == 0
		}},
		change{what: "unpublished post: not in feed", node: reader, path: site + "/feed.xml", check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200 && len(feedTitles(t, b)) == 0
		}},
		change{what: "unpublished post: not in sitemap", node: reader, path: site + "/sitemap.xml", check: func(r *http.Response, b []byte) bool {
			return r.StatusCode == 200 && len(sitemapLocs(t, b)) == 0
		}},
	)
	logTook(t, reader, "the writer answered", took)
	checkPublic(t, reader, site, nil, nil)
	for _, n := range nodes {
		resp, body := n.fetch(t, "GET", postPath, "", map[string]string{"If-None-Match": etag}, nil)
		expectProblem(t, resp, body, 404, "not_found")
	}
	if got := searchSlugs(t, reader, site, "revised"); len(got) != 0 {
		t.Fatalf("search for the unpublished title's word found %v, want nothing", got)
	}
}

// checkPublic checks that the node's post list, feed and sitemap hold
// exactly the published posts with titles and slugs, and that a search
// for searchWord, which every post of the flow contains, finds them and
// no draft.
func checkPublic(t *testing.T, n *clusterNode, site string, titles, slugs []string) {
	t.Helper()
	resp, body := n.fetch(t, "GET", site+"/posts", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("node %s: list = %d %s", n.name, resp.StatusCode, body)
	}
	checkCacheHeaders(t, n, resp)
	if got := listTitles(t, body); !slices.Equal(got, titles) {
		t.Fatalf("node %s: list has %q, want %q", n.name, got, titles)
	}
	resp, body = n.fetch(t, "GET", site+"/feed.xml", "", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("node %s: feed = %d %s %s", n.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	checkCacheHeaders(t, n, resp)
	if got := feedTitles(t, body); !slices.Equal(got, titles) {
		t.Fatalf("node %s: feed has %q, want %q", n.name, got, titles)
	}
	resp, body = n.fetch(t, "GET", site+"/sitemap.xml", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("node %s: sitemap = %d %s", n.name, resp.StatusCode, body)
	}
	checkCacheHeaders(t, n, resp)
	var want []string
	for _, s := range slugs {
		want = append(want, n.links()+site+"/posts/"+s)
	}
	if got := sitemapLocs(t, body); !slices.Equal(got, want) {
		t.Fatalf("node %s: sitemap lists %q, want %q", n.name, got, want)
	}
	if got := searchSlugs(t, n, site, searchWord); !slices.Equal(got, slugs) {
		t.Fatalf("node %s: search for %q found %q, want %q", n.name, searchWord, got, slugs)
	}
}

// checkCacheHeaders checks what every successful public response carries.
func checkCacheHeaders(t *testing.T, n *clusterNode, resp *http.Response) {
	t.Helper()
	h := resp.Header
	etag := h.Get("ETag")
	if len(etag) < 3 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
		t.Fatalf("node %s: %s: ETag %q, want a strong entity tag", n.name, resp.Request.URL.Path, etag)
	}
	cc := h.Get("Cache-Control")
	if !strings.Contains(cc, "public") || !strings.Contains(cc, "max-age="+strings.TrimSuffix(publicMaxAge, "s")) ||
		!strings.Contains(cc, "stale-while-revalidate=") {
		t.Fatalf("node %s: %s: Cache-Control %q, want public, max-age=%s and stale-while-revalidate", n.name, resp.Request.URL.Path, cc, publicMaxAge)
	}
	if h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("node %s: %s: Access-Control-Allow-Origin %q, want *", n.name, resp.Request.URL.Path, h.Get("Access-Control-Allow-Origin"))
	}
}

func listTitles(t *testing.T, body []byte) []string {
	t.Helper()
	var l entryListDTO
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("decode list %s: %v", body, err)
	}
	var titles []string
	for _, e := range l.Data {
		titles = append(titles, e.Title)
	}
	return titles
}

func searchSlugs(t *testing.T, n *clusterNode, site, q string) []string {
	t.Helper()
	resp, body := n.fetch(t, "GET", site+"/posts?q="+q, "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("node %s: search %q = %d %s", n.name, q, resp.StatusCode, body)
	}
	var l entryListDTO
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("decode search %s: %v", body, err)
	}
	var slugs []string
	for _, e := range l.Data {
		slugs = append(slugs, e.Slug)
	}
	return slugs
}

// feedTitles parses an Atom feed and returns its entries' titles.
func feedTitles(t *testing.T, body []byte) []string {
	t.Helper()
	var f struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Entries []struct {
			Title string `xml:"title"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal(body, &f); err != nil {
		t.Fatalf("parse feed %s: %v", body, err)
	}
	var titles []string
	for _, e := range f.Entries {
		titles = append(titles, e.Title)
	}
	return titles
}

// sitemapLocs parses a sitemap and returns its URLs.
func sitemapLocs(t *testing.T, body []byte) []string {
	t.Helper()
	var s struct {
		XMLName xml.Name `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 urlset"`
		URLs    []struct {
			Loc string `xml:"loc"`
		} `xml:"url"`
	}
	if err := xml.Unmarshal(body, &s); err != nil {
		t.Fatalf("parse sitemap %s: %v", body, err)
	}
	var locs []string
	for _, u := range s.URLs {
		locs = append(locs, u.Loc)
	}
	return locs
}

// decode fails the test unless resp has status want, and decodes body.
func decode(t *testing.T, resp *http.Response, body []byte, want int, into any) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, want)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("%s %s: decode %s: %v", resp.Request.Method, resp.Request.URL.Path, body, err)
	}
}

// fetch is call with request headers, returning the response with its
// body read.
func (n *clusterNode) fetch(t *testing.T, method, path, token string, header map[string]string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, n.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := checkedClient(t).Do(req)
	if err != nil {
		t.Fatalf("node %s: %s %s: %v", n.name, method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("node %s: read %s %s: %v", n.name, method, path, err)
	}
	return resp, out
}

// change is a public GET whose answer must come to pass check.
type change struct {
	what  string
	node  *clusterNode
	path  string
	check func(*http.Response, []byte) bool
}

// awaitChanges repeats each change's request until its answer passes and
// returns, per change, how long after start the first request that
// passed was sent. Each must pass by start+limit: the last round of
// requests is sent at that moment, and a change that fails it fails the
// test, saying how late it came if it came within ten seconds.
func awaitChanges(t *testing.T, start time.Time, limit time.Duration, changes ...change) map[string]time.Duration {
	t.Helper()
	deadline := start.Add(limit)
	took := map[string]time.Duration{}
	last := map[string]string{}
	for final := false; !final && len(took) < len(changes); {
		final = !time.Now().Before(deadline)
		for _, c := range changes {
			if _, done := took[c.what]; done {
				continue
			}
			sent := time.Since(start)
			resp, body := c.node.fetch(t, "GET", c.path, "", nil, nil)
			if c.check(resp, body) {
				took[c.what] = sent
				continue
			}
			last[c.what] = fmt.Sprintf("%d %.300s", resp.StatusCode, body)
		}
		time.Sleep(min(5*time.Millisecond, max(time.Until(deadline), 0)))
	}
	for _, c := range changes {
		if _, done := took[c.what]; done {
			continue
		}
		late := "not within 10s"
		for time.Since(start) < 10*time.Second {
			if resp, body := c.node.fetch(t, "GET", c.path, "", nil, nil); c.check(resp, body) {
				late = "after " + time.Since(start).Round(time.Millisecond).String()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("node %s, %s: GET %s still answered %s %s after the change, want it within %s; it came %s",
			c.node.name, c.what, c.path, last[c.what], limit, limit, late)
	}
	if len(took) < len(changes) {
		t.FailNow()
	}
	return took
}

func logTook(t *testing.T, n *clusterNode, since string, took map[string]time.Duration) {
	t.Helper()
	for _, what := range slices.Sorted(maps.Keys(took)) {
		t.Logf("node %s, %-36s first seen by a request sent %4d ms after %s", n.name, what+":", took[what].Milliseconds(), since)
	}
}
