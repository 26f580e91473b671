package content_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func (f *fixture) authorTagAudit(t *testing.T) []string {
	t.Helper()
	var out []string
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		evs, _, err := st.Audit().List(ctx, f.ws.ID(), ports.Page{Limit: ports.MaxPageLimit})
		for _, e := range evs {
			out = append(out, e.Action+" "+e.TargetID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A member's first entry gives them a profile named after their account;
// they edit it themself, an admin edits anyone's, and a viewer no one
// else's.
func TestAuthorProfiles(t *testing.T) {
	f := newFixture(t)
	e := f.post(t, "Hello")
	var a domain.Author
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		a, err = st.Authors().Get(ctx, f.ws.ID(), e.Author())
		return err
	})
	if err != nil || a.Name() != "O" || a.Slug() != "o" {
		t.Fatalf("profile after the first entry: %+v, %v", a, err)
	}
	bio := "Reviews."
	if _, err := f.svc.UpdateAuthor(t.Context(), f.viewer, "site", f.owner.User(), content.AuthorEdit{Bio: &bio}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("a viewer edits the owner's profile: %v, want forbidden", err)
	}
	// The viewer has no profile yet: editing their own makes it.
	v, err := f.svc.UpdateAuthor(t.Context(), f.viewer, "site", f.viewer.User(), content.AuthorEdit{Bio: &bio})
	if err != nil || v.Name() != "V" || v.Bio() != "Reviews." {
		t.Fatalf("a viewer edits their own profile: %+v, %v", v, err)
	}
	taken := "v"
	if _, err := f.svc.UpdateAuthor(t.Context(), f.owner, "site", f.owner.User(), content.AuthorEdit{Slug: &taken}); !errors.Is(err, domain.ErrAuthorSlugTaken) {
		t.Errorf("a taken slug: %v", err)
	}
	name := "Vera"
	if _, err := f.svc.UpdateAuthor(t.Context(), f.owner, "site", f.viewer.User(), content.AuthorEdit{Name: &name}); err != nil {
		t.Errorf("the owner edits the viewer's profile: %v", err)
	}
	stranger := domain.UserID(domain.NewID(domain.PrefixUser, f.clock.Now()))
	if _, err := f.svc.UpdateAuthor(t.Context(), f.owner, "site", stranger, content.AuthorEdit{Name: &name}); domain.KindOf(err) != domain.KindNotFound {
		t.Errorf("a user who is not a member: %v, want not found", err)
	}
	want := []string{"author.updated " + string(f.viewer.User()), "author.updated " + string(f.viewer.User())}
	if got := f.authorTagAudit(t); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
}

// A rename keeps the slug and reaches the public site at once.
func TestUpdateTag(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.CreateEntry(t.Context(), f.owner, "site", content.CreateInput{Kind: "post", Content: domain.EntryContent{Title: "T", Tags: []string{"news"}}})
	if err != nil {
		t.Fatal(err)
	}
	changed := f.changed
	name := "News"
	if _, err := f.svc.UpdateTag(t.Context(), f.viewer, "site", "news", content.TagEdit{Name: &name}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("a viewer renames a tag: %v", err)
	}
	tc, err := f.svc.UpdateTag(t.Context(), f.owner, "site", "news", content.TagEdit{Name: &name})
	if err != nil || tc.Tag.Name != "News" || f.changed != changed+1 {
		t.Fatalf("rename: %+v, %v, changed %d → %d", tc, err, changed, f.changed)
	}
	other := "Updates"
	if _, err := f.svc.UpdateTag(t.Context(), f.owner, "site", "news", content.TagEdit{Name: &other}); !errors.Is(err, domain.ErrTagRenameChangesSlug) {
		t.Errorf("a rename that moves the slug: %v", err)
	}
	if _, err := f.svc.UpdateTag(t.Context(), f.owner, "site", "nope", content.TagEdit{Name: &other}); domain.KindOf(err) != domain.KindNotFound {
		t.Errorf("an unknown tag: %v", err)
	}
	if got := f.authorTagAudit(t); !slices.Equal(got, []string{"tag.updated news"}) {
		t.Errorf("audit = %q", got)
	}
}
