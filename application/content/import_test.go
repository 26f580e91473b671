package content_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func imported(source, title, slug string) domain.ImportedEntry {
	at := time.Date(2019, 5, 1, 8, 30, 0, 0, time.UTC)
	return domain.ImportedEntry{Source: source, Kind: domain.KindPost, Title: title, Slug: slug, Body: "Body of " + title,
		Status: domain.EntryPublished, PublishedAt: &at, CreatedAt: at.Add(-time.Hour)}
}

func hasNote(t *testing.T, notes []domain.ImportNote, parts ...string) {
	t.Helper()
	for _, n := range notes {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(n.String(), p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no note with %q among %v", parts, notes)
}

// TestImportSkipsWhatCannotBeAnEntry: an item whose slug a hand-written
// entry has, a second item of the export with the same slug and an item
// whose body is over the limit are skipped with a note each, an item with
// a long title, a bad tag, a relative cover image and a long excerpt is
// made to fit with a note each, and the rest of the batch is written; a
// dry run counts the same and writes nothing.
func TestImportSkipsWhatCannotBeAnEntry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.post(t, "Welcome") // slug "welcome"
	batch := []domain.ImportedEntry{
		imported("ghost:1", "Welcome back", "welcome"),
		imported("ghost:2", "Tides", "tides"),
		imported("ghost:3", "Tides again", "tides"),
		imported("ghost:4", "Huge", "huge"),
		imported("ghost:5", strings.Repeat("t", domain.MaxTitleLen+1), "odd"),
	}
	batch[3].Body = strings.Repeat("x", domain.MaxBodyBytes+1)
	// What does not fit is made to fit, with a note, not skipped.
	batch[4].Tags = []string{"Good", "bad, with a comma", "good"}
	batch[4].CoverImageURL = "__GHOST_URL__/content/images/cover.jpg"
	batch[4].Excerpt = strings.Repeat("e", domain.MaxExcerptLen+5)
	for _, dry := range []bool{true, false} {
		im, err := f.svc.StartImport(t.Context(), f.owner, "site", dry)
		if err != nil {
			t.Fatal(err)
		}
		c, notes, err := im.ImportEntries(t.Context(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if c != (content.ImportCounts{Created: 2, Skipped: 3}) {
			t.Errorf("dry run %v: counts %+v, want 2 created and 3 skipped", dry, c)
		}
		hasNote(t, notes, "ghost:1", `slug "welcome"`)
		hasNote(t, notes, "ghost:3", `slug "tides"`)
		hasNote(t, notes, "ghost:4", "body")
		hasNote(t, notes, "ghost:5", "title is cut")
		hasNote(t, notes, "ghost:5", `tag "bad, with a comma" is left out`)
		hasNote(t, notes, "ghost:5", "cover image")
		hasNote(t, notes, "ghost:5", "excerpt is cut")
		es, _, err := f.svc.ListEntries(t.Context(), f.owner, "site", ports.EntryFilter{}, ports.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 3}[dry]; len(es) != want {
			t.Errorf("dry run %v: %d entries, want %d", dry, len(es), want)
		}
	}

	var tides, odd domain.Entry
	es, _, _ := f.svc.ListEntries(t.Context(), f.owner, "site", ports.EntryFilter{}, ports.Page{Limit: 10})
	for _, e := range es {
		switch e.Slug() {
		case "tides":
			tides = e
		case "odd":
			odd = e
		}
	}
	if len([]rune(odd.Title())) != domain.MaxTitleLen || !slices.Equal(odd.Tags(), []string{"Good"}) || odd.CoverImageURL() != "" || len(odd.Excerpt()) != domain.MaxExcerptLen {
		t.Errorf("the entry made to fit: title of %d characters, tags %q, cover %q, excerpt of %d", len([]rune(odd.Title())), odd.Tags(), odd.CoverImageURL(), len(odd.Excerpt()))
	}
	if tides.Status() != domain.EntryPublished || !tides.PublishedAt().Equal(time.Date(2019, 5, 1, 8, 30, 0, 0, time.UTC)) ||
		!tides.CreatedAt().Equal(time.Date(2019, 5, 1, 7, 30, 0, 0, time.UTC)) || !tides.UpdatedAt().Equal(f.clock.Now()) || tides.Author() != f.owner.User() {
		t.Errorf("the imported entry: %s at %v, created %v, updated %v, by %s", tides.Status(), tides.PublishedAt(), tides.CreatedAt(), tides.UpdatedAt(), tides.Author())
	}
	var audited int
	for _, a := range f.auditActions(t) {
		if a.Action == "entry.imported" && a.Details["source"] == "ghost:2" && a.Details["published_at"] == "2019-05-01T08:30:00Z" {
			audited++
		}
	}
	if audited != 1 {
		t.Errorf("%d entry.imported records of ghost:2, want 1", audited)
	}

	// Again: what was written is unchanged, the rest is skipped again.
	im, err := f.svc.StartImport(t.Context(), f.owner, "site", false)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := im.ImportEntries(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if c != (content.ImportCounts{Unchanged: 2, Skipped: 3}) {
		t.Errorf("second import: counts %+v, want 2 unchanged and 3 skipped", c)
	}
}

// TestImportNeedsTheImportPermission: an editor may write entries but not
// import them; a viewer may do neither.
func TestImportNeedsTheImportPermission(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	editor := f.addMember(t, "editor@example.com", domain.RoleEditor)
	_, err := f.svc.StartImport(t.Context(), editor, "site", false)
	if !errors.Is(err, domain.ErrForbidden) || !strings.Contains(err.Error(), "content:import") {
		t.Errorf("editor: %v, want forbidden naming content:import", err)
	}
	if _, err := f.svc.StartImport(t.Context(), f.viewer, "site", false); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("viewer: %v, want forbidden", err)
	}
}
