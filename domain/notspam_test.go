package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestNotSpamReleasesHeldMailOnce: spam the filter caught holds its mail
// until it is marked not spam, once; spam filed by hand holds none; only
// spam can be marked not spam, and only to new or read.
func TestNotSpamReleasesHeldMailOnce(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		t.Fatal(err)
	}
	raw := domain.RawSubmission{Fields: map[string][]string{"name": {"Ada"}, "email": {"a@example.com"}, "website": {"x"}}, Order: []string{"name", "email", "website"}}
	s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil || !s.IsSpam() || !s.MailHeld() {
		t.Fatalf("honeypot: %v spam=%v held=%v, want spam with its mail held", err, s.IsSpam(), s.MailHeld())
	}
	if _, err := s.NotSpam(domain.SubmissionArchived, now); domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("NotSpam(archived) = %v, want invalid", err)
	}
	later := now.Add(time.Minute)
	if held, err := s.NotSpam(domain.SubmissionRead, later); err != nil || !held {
		t.Fatalf("NotSpam = %v, %v; want the held mail", held, err)
	}
	if s.Status() != domain.SubmissionRead || s.MailHeld() || !s.UpdatedAt().Equal(later) {
		t.Errorf("after NotSpam: %s held=%v updated %s", s.Status(), s.MailHeld(), s.UpdatedAt())
	}
	if _, err := s.NotSpam(domain.SubmissionNew, later); !errors.Is(err, domain.ErrNotSpam) {
		t.Errorf("NotSpam twice = %v, want ErrNotSpam", err)
	}
	// Back to spam by hand, then not spam: nothing is held any more.
	if err := s.SetStatus(domain.SubmissionSpam, later); err != nil {
		t.Fatal(err)
	}
	if held, err := s.NotSpam(domain.SubmissionNew, later); err != nil || held {
		t.Errorf("NotSpam after spam by hand = %v, %v; want no held mail", held, err)
	}
	clean, _ := f.Accept(domain.RawSubmission{Fields: map[string][]string{"name": {"Bo"}, "email": {"b@example.com"}}, Order: []string{"name", "email"}}, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if clean.MailHeld() {
		t.Error("a clean submission holds its mail")
	}
}
