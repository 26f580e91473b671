package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

func TestTagSlug(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"News": "news", " NEWS ": "news", "Web Design": "web-design", "C++": "c++", "CI/CD": "ci-cd", "Crème": "crème",
	} {
		if got := domain.TagSlug(name); got != want {
			t.Errorf("TagSlug(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestTagRenameKeepsSlug(t *testing.T) {
	t.Parallel()
	tag, err := domain.NewTag("ws", "news", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := tag.Rename("News"); err != nil || tag.Name != "News" || tag.Slug != "news" {
		t.Fatalf("Rename(News) = %v, tag %+v", err, tag)
	}
	if err := tag.Rename("Updates"); !errors.Is(err, domain.ErrTagRenameChangesSlug) || tag.Name != "News" {
		t.Fatalf("Rename(Updates) = %v, tag %+v", err, tag)
	}
	if err := tag.Describe(strings.Repeat("x", domain.MaxTagDescriptionLen+1)); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("long description: %v", err)
	}
	if _, err := domain.NewTag("ws", "a,b", ""); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("comma: %v", err)
	}
}

func TestAuthorProfileValidation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, err := domain.NewAuthor("ws", "usr", domain.AuthorProfile{Name: "  Zoë Émile ", Bio: "Writes.\nA lot."}, now)
	if err != nil || a.Slug() != "zoe-emile" || a.Name() != "Zoë Émile" {
		t.Fatalf("NewAuthor = %+v, %v", a, err)
	}
	for _, p := range []domain.AuthorProfile{
		{Name: "x", WebsiteURL: "javascript:alert(1)"},
		{Name: "x", AvatarURL: "ftp://example.com/a.png"},
		{Name: "x", Bio: strings.Repeat("b", domain.MaxAuthorBioLen+1)},
		{Name: "x", Slug: "Not A Slug"},
		{Name: ""},
	} {
		if err := a.Edit(p, now); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("Edit(%+v) = %v, want invalid", p, err)
		}
	}
	if a.Name() != "Zoë Émile" {
		t.Errorf("a failed edit changed the name to %q", a.Name())
	}
	if err := a.Edit(domain.AuthorProfile{Name: "Z", Slug: "z", WebsiteURL: "https://z.example"}, now); err != nil {
		t.Fatal(err)
	}
}
