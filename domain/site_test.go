package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

func TestSiteSettingsUpdateValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		siteURL, post      string
		wantField, wantErr string
	}{
		{"RelativeURL", "www.example.com", "/{slug}", "site_url", "invalid_url"},
		{"FTP", "ftp://example.com", "/{slug}", "site_url", "invalid_url"},
		{"Query", "https://example.com/?a=1", "/{slug}", "site_url", "invalid_url"},
		{"Fragment", "https://example.com/#top", "/{slug}", "site_url", "invalid_url"},
		{"User", "https://me@example.com", "/{slug}", "site_url", "invalid_url"},
		{"LongURL", "https://example.com/" + strings.Repeat("a", domain.MaxSiteURLLen), "/{slug}", "site_url", "too_long"},
		{"NoSlash", "", "blog/{slug}", "post_permalink", "invalid_permalink"},
		{"DoubleSlash", "", "/blog//{slug}", "post_permalink", "invalid_permalink"},
		{"DotDot", "", "/blog/../{slug}", "post_permalink", "invalid_permalink"},
		{"Query", "", "/blog?p={slug}", "post_permalink", "invalid_permalink"},
		{"Space", "", "/my blog/{slug}", "post_permalink", "invalid_permalink"},
		{"UnknownPlaceholder", "", "/{locale}/{slug}", "post_permalink", "unknown_placeholder"},
		{"Unclosed", "", "/{slug", "post_permalink", "unknown_placeholder"},
		{"DatesOnly", "", "/{year}/{month}/{day}", "post_permalink", "permalink_not_unique"},
		{"Long", "", "/" + strings.Repeat("a", domain.MaxPermalinkLen) + "/{slug}", "post_permalink", "too_long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := domain.DefaultSiteSettings("ws_1")
			before := s
			err := s.Update(domain.SiteChange{SiteURL: &tc.siteURL, PostPermalink: &tc.post}, now)
			var de *domain.Error
			if !errors.As(err, &de) || len(de.Fields) != 1 || de.Fields[0].Field != tc.wantField || de.Fields[0].Code != tc.wantErr {
				t.Fatalf("Update(%q, %q) = %v, want %s %s", tc.siteURL, tc.post, err, tc.wantField, tc.wantErr)
			}
			if s != before {
				t.Fatalf("a refused Update changed the settings: %+v", s)
			}
		})
	}
}

func TestSiteSettingsEntryURL(t *testing.T) {
	t.Parallel()
	post := newPost(t, domain.EntryContent{Title: "Crème brûlée"})
	published := time.Date(2026, 3, 7, 23, 30, 0, 0, time.FixedZone("", -5*3600)) // 8 March in UTC
	if _, err := post.Publish(&published, published); err != nil {
		t.Fatal(err)
	}
	s := domain.DefaultSiteSettings("ws_1")
	if u, ok := s.EntryURL(post); ok {
		t.Fatalf("EntryURL without a site URL = %q, want none", u)
	}
	siteURL, pattern := "https://www.example.com/site/", "/{year}/{month}/{day}/{slug}-{id}.html"
	if err := s.Update(domain.SiteChange{SiteURL: &siteURL, PostPermalink: &pattern}, now); err != nil {
		t.Fatal(err)
	}
	u, ok := s.EntryURL(post)
	if want := "https://www.example.com/site/2026/03/08/creme-brulee-" + string(post.ID()) + ".html"; !ok || u != want {
		t.Fatalf("EntryURL = %q, %v, want %q", u, ok, want)
	}
	draft := newPost(t, domain.EntryContent{Title: "Draft"})
	if u, ok := s.EntryURL(draft); ok {
		t.Fatalf("EntryURL of a draft = %q, want none", u)
	}
}
