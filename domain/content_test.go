package domain_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

func newPost(t *testing.T, c domain.EntryContent) domain.Entry {
	t.Helper()
	e, err := domain.NewEntry("wsp_1", "usr_1", domain.KindPost, c, domain.Rendered{HTML: "<p>x</p>", Text: "x"}, now)
	if err != nil {
		t.Fatalf("NewEntry: %v", err)
	}
	return e
}

func TestSlugify(t *testing.T) {
	t.Parallel()
	for title, want := range map[string]string{
		"Hello, World!":                   "hello-world",
		"Crème brûlée à la française":     "creme-brulee-a-la-francaise",
		"  Straße & Œuvre  ":              "strasse-oeuvre",
		"Łódź: żółć":                      "lodz-zolc",
		"Привет мир":                      "privet-mir",
		"Ελληνικά":                        "ellinika",
		"日本語":                             "untitled",
		"--- 2026 ---":                    "2026",
		"Go 1.26 — what's new?":           "go-1-26-what-s-new",
		strings.Repeat("word ", 60):       strings.TrimRight(strings.Repeat("word-", 24), "-"),
		"tab\tand\nnewline":               "tab-and-newline",
		"ALL CAPS and MiXeD":              "all-caps-and-mixed",
		"emoji 🎉 party":                   "emoji-party",
		"déjà-vu":                         "deja-vu",
		"Ñandú São Paulo Kraków Dvořák ı": "nandu-sao-paulo-krakow-dvorak-i",
	} {
		got := domain.Slugify(title)
		if got != want {
			t.Errorf("Slugify(%q) = %q, want %q", title, got, want)
		}
		if len(got) > domain.MaxEntrySlugLen {
			t.Errorf("Slugify(%q) is %d bytes long", title, len(got))
		}
	}
}

func TestNewEntryDerivesSlugAndNormalises(t *testing.T) {
	t.Parallel()
	e := newPost(t, domain.EntryContent{Title: "  Crème brûlée  ", Body: "x", Tags: []string{"Food", "food ", "Desserts"}})
	if e.Slug() != "creme-brulee" || e.Title() != "Crème brûlée" {
		t.Errorf("slug %q title %q", e.Slug(), e.Title())
	}
	// Tags keep the case typed first; "food " has the slug of "Food".
	if !slices.Equal(e.Tags(), []string{"Food", "Desserts"}) || !slices.Equal(e.TagSlugs(), []string{"food", "desserts"}) {
		t.Errorf("tags = %q, slugs %q", e.Tags(), e.TagSlugs())
	}
	if e.Status() != domain.EntryDraft || e.Version() != 1 || e.PublishedAt() != nil {
		t.Errorf("status %s version %d published %v", e.Status(), e.Version(), e.PublishedAt())
	}
	if !domain.ValidID(domain.PrefixEntry, e.ID().String()) {
		t.Errorf("id %q", e.ID())
	}
}

func TestNewEntryReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := domain.NewEntry("wsp_1", "usr_1", domain.KindPage, domain.EntryContent{
		Title: "", Slug: "Not A Slug", Body: "\xff", Excerpt: strings.Repeat("e", 1001),
		Tags: []string{"a,b"}, CoverImageURL: "javascript:alert(1)",
		SEO: domain.SEO{Title: strings.Repeat("t", 121), Description: strings.Repeat("d", 321)},
	}, domain.Rendered{}, now)
	got := fieldsOf(err)
	want := []string{"title:required", "slug:invalid_slug", "body:invalid_body", "excerpt:too_long", "tags:invalid_tags", "cover_image_url:invalid_url", "seo.title:too_long", "seo.description:too_long"}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %q\nwant %q", got, want)
	}
	if _, err := domain.NewEntry("wsp_1", "usr_1", domain.EntryKind{}, domain.EntryContent{Title: "x"}, domain.Rendered{}, now); !slices.Equal(fieldsOf(err), []string{"kind:required"}) {
		t.Errorf("zero kind: %v", err)
	}
	tags := make([]string, 21)
	for i := range tags {
		tags[i] = strings.Repeat("t", i+1)
	}
	if _, err := domain.NewEntry("wsp_1", "usr_1", domain.KindPost, domain.EntryContent{Title: "x", Tags: tags}, domain.Rendered{}, now); !slices.Equal(fieldsOf(err), []string{"tags:invalid_tags"}) {
		t.Errorf("21 tags: %v", err)
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("lorem ipsum ", 40)
	e, err := domain.NewEntry("wsp_1", "usr_1", domain.KindPost, domain.EntryContent{Title: "x", Body: long}, domain.Rendered{Text: long}, now)
	if err != nil {
		t.Fatal(err)
	}
	ex := e.Excerpt()
	if !strings.HasSuffix(ex, "…") || len([]rune(ex)) > 201 || strings.Contains(ex, "  ") || strings.HasSuffix(strings.TrimSuffix(ex, "…"), " ") {
		t.Errorf("derived excerpt %q", ex)
	}
	if !strings.HasPrefix(long, strings.TrimSuffix(ex, "…")) {
		t.Errorf("derived excerpt %q is not the start of the text", ex)
	}
	e2 := newPost(t, domain.EntryContent{Title: "x", Excerpt: " Given. "})
	if e2.Excerpt() != "Given." {
		t.Errorf("given excerpt %q", e2.Excerpt())
	}
}

func TestEntryStateMachine(t *testing.T) {
	t.Parallel()
	later := now.Add(time.Hour)
	type step struct {
		name    string
		do      func(e *domain.Entry) (bool, error)
		want    domain.EntryStatus
		changed bool
		err     error
	}
	publish := func(at *time.Time) func(e *domain.Entry) (bool, error) {
		return func(e *domain.Entry) (bool, error) { return e.Publish(at, now) }
	}
	unpublish := func(to domain.EntryStatus) func(e *domain.Entry) (bool, error) {
		return func(e *domain.Entry) (bool, error) { return e.Unpublish(to, now) }
	}
	due := func(at time.Time) func(e *domain.Entry) (bool, error) {
		return func(e *domain.Entry) (bool, error) { return e.PublishIfDue(at), nil }
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"publish now", []step{{"publish", publish(nil), domain.EntryPublished, true, nil}}},
		{"publish at a past time is now", []step{{"publish", publish(ptr(now.Add(-time.Hour))), domain.EntryPublished, true, nil}}},
		{"schedule then due", []step{
			{"schedule", publish(&later), domain.EntryScheduled, false, nil},
			{"not yet due", due(later.Add(-time.Second)), domain.EntryScheduled, false, nil},
			{"due", due(later), domain.EntryPublished, true, nil},
			{"due again is a no-op", due(later.Add(time.Minute)), domain.EntryPublished, false, nil},
		}},
		{"schedule then publish now", []step{
			{"schedule", publish(&later), domain.EntryScheduled, false, nil},
			{"publish", publish(nil), domain.EntryPublished, true, nil},
		}},
		{"cancel a schedule", []step{
			{"schedule", publish(&later), domain.EntryScheduled, false, nil},
			{"to draft", unpublish(domain.EntryDraft), domain.EntryDraft, false, nil},
			{"no longer due", due(later), domain.EntryDraft, false, nil},
		}},
		{"a schedule cannot be archived", []step{
			{"schedule", publish(&later), domain.EntryScheduled, false, nil},
			{"archive", unpublish(domain.EntryArchived), domain.EntryScheduled, false, domain.ErrNotPublished},
		}},
		{"unpublish to draft and archive", []step{
			{"publish", publish(nil), domain.EntryPublished, true, nil},
			{"publish twice", publish(nil), domain.EntryPublished, false, domain.ErrAlreadyPublished},
			{"archive", unpublish(domain.EntryArchived), domain.EntryArchived, true, nil},
			{"archive twice", unpublish(domain.EntryArchived), domain.EntryArchived, false, domain.ErrNotPublished},
			{"republish", publish(nil), domain.EntryPublished, true, nil},
			{"to draft", unpublish(domain.EntryDraft), domain.EntryDraft, true, nil},
		}},
		{"a draft cannot be unpublished", []step{{"unpublish", unpublish(domain.EntryDraft), domain.EntryDraft, false, domain.ErrNotPublished}}},
		{"unpublish to published is refused", []step{
			{"publish", publish(nil), domain.EntryPublished, true, nil},
			{"unpublish", unpublish(domain.EntryPublished), domain.EntryPublished, false, &domain.Error{Kind: domain.KindInvalid, Code: "validation_failed"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newPost(t, domain.EntryContent{Title: "T"})
			for _, s := range tc.steps {
				before := e.Version()
				changed, err := s.do(&e)
				if s.err == nil && err != nil || s.err != nil && !errors.Is(err, s.err) {
					t.Fatalf("%s: err = %v, want %v", s.name, err, s.err)
				}
				if changed != s.changed || e.Status() != s.want {
					t.Fatalf("%s: changed %v status %s, want %v %s", s.name, changed, e.Status(), s.changed, s.want)
				}
				// Every accepted transition counts a version; the scheduler's
				// check counts one only when it publishes.
				moved, wantMoved := e.Version() != before, err == nil
				if strings.Contains(s.name, "due") {
					wantMoved = changed
				}
				if moved != wantMoved {
					t.Errorf("%s: version %d → %d", s.name, before, e.Version())
				}
				if (e.Status() == domain.EntryPublished) != (e.PublishedAt() != nil && e.Status() == domain.EntryPublished) {
					t.Errorf("%s: published without published_at", s.name)
				}
				if (e.Status() == domain.EntryScheduled) != (e.PublishAt() != nil) {
					t.Errorf("%s: status %s with publish_at %v", s.name, e.Status(), e.PublishAt())
				}
			}
		})
	}
}

func TestScheduledPublicationKeepsThePromisedTime(t *testing.T) {
	t.Parallel()
	e := newPost(t, domain.EntryContent{Title: "T"})
	at := now.Add(time.Hour)
	if _, err := e.Publish(&at, now); err != nil {
		t.Fatal(err)
	}
	if !e.PublishIfDue(at.Add(3 * time.Second)) {
		t.Fatal("not published when due")
	}
	if !e.PublishedAt().Equal(at) {
		t.Errorf("published_at = %s, want the scheduled %s", e.PublishedAt(), at)
	}
}

func TestReviseIsAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newPost(t, domain.EntryContent{Title: "Old", Body: "old"})
	c := domain.EntryPatch{Title: ptr("New title"), Body: ptr("new")}.Apply(e.Content())
	if err := e.Revise(c, domain.Rendered{HTML: "<p>new</p>"}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if e.Title() != "New title" || e.Slug() != "old" || e.Body() != "new" || e.Version() != 2 || !e.UpdatedAt().Equal(now.Add(time.Minute)) {
		t.Errorf("after revise: %q %q %q v%d %s", e.Title(), e.Slug(), e.Body(), e.Version(), e.UpdatedAt())
	}
	bad := domain.EntryPatch{Title: ptr("Fine"), Slug: ptr("Bad Slug")}.Apply(e.Content())
	if err := e.Revise(bad, domain.Rendered{}, now); !slices.Equal(fieldsOf(err), []string{"slug:invalid_slug"}) {
		t.Errorf("bad slug: %v", err)
	}
	if e.Title() != "New title" || e.Version() != 2 || e.Rendered().HTML != "<p>new</p>" {
		t.Error("a refused revision changed the entry")
	}
}

func TestEntryEventAndRevision(t *testing.T) {
	t.Parallel()
	e := newPost(t, domain.EntryContent{Title: "Launch day"})
	if _, err := e.Publish(nil, now); err != nil {
		t.Fatal(err)
	}
	ev := domain.EntryEvent(e, true, now)
	if ev.Type != "post.published" || ev.Workspace != "wsp_1" || !domain.ValidID(domain.PrefixEvent, string(ev.ID)) {
		t.Errorf("event %+v", ev)
	}
	var data map[string]any
	if err := json.Unmarshal(ev.Data, &data); err != nil || data["id"] != string(e.ID()) || data["slug"] != "launch-day" || data["status"] != "published" {
		t.Errorf("event data %s (%v)", ev.Data, err)
	}
	page, _ := domain.NewEntry("wsp_1", "usr_1", domain.KindPage, domain.EntryContent{Title: "About"}, domain.Rendered{}, now)
	if got := domain.EntryEvent(page, false, now).Type; got != "page.unpublished" {
		t.Errorf("page event %q", got)
	}
	r := domain.NewRevision(e, domain.NewUserPrincipal("usr_9", false, "ses_1"))
	if r.Version != e.Version() || r.ActorKind != "user" || r.ActorID != "usr_9" || r.Content.Title != "Launch day" {
		t.Errorf("revision %+v", r)
	}
}
