package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// raw builds a raw submission from name, value pairs in order.
func raw(formEncoded bool, kv ...string) domain.RawSubmission {
	r := domain.RawSubmission{Fields: map[string][]string{}, FormEncoded: formEncoded}
	for i := 0; i+1 < len(kv); i += 2 {
		if _, seen := r.Fields[kv[i]]; !seen {
			r.Order = append(r.Order, kv[i])
		}
		r.Fields[kv[i]] = append(r.Fields[kv[i]], kv[i+1])
	}
	return r
}

// TestSpamReasons: each of the filter's verdicts keeps its cause (the
// honeypot first when several apply), filing by hand is manual, and
// marking not spam clears it.
func TestSpamReasons(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		t.Fatal(err)
	}
	rules := domain.SpamRules{MaxLinks: 2, MinFillTime: 2 * time.Second, TimestampField: "_keel_ts"}
	links := strings.Repeat("http://spam.example ", 3)
	justNow := "1796385600000" // now, in Unix milliseconds: no time to fill the form
	for _, tc := range []struct {
		name   string
		raw    domain.RawSubmission
		cause  domain.SpamCause
		detail string
	}{
		{"Clean", raw(false, "name", "Ada", "email", "a@example.com", "message", "see http://a.example"), domain.SpamCause{}, ""},
		{"Honeypot", raw(false, "name", "Ada", "email", "a@example.com", "website", "x", "message", links), domain.SpamHoneypot, ""},
		{"Timing", raw(false, "_keel_ts", justNow, "name", "Ada", "email", "a@example.com", "message", links), domain.SpamTiming, "Sent less than 2s after the page loaded."},
		{"Links", raw(false, "name", "Ada", "email", "a@example.com", "message", links), domain.SpamLinks, "3 links; the limit is 2."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := f.Accept(tc.raw, domain.SubmissionMeta{}, rules, now)
			if err != nil {
				t.Fatal(err)
			}
			if r := s.SpamReason(); r.Cause != tc.cause || r.Detail != tc.detail || s.IsSpam() == r.IsZero() {
				t.Errorf("reason %+v spam=%v, want %q %q", r, s.IsSpam(), tc.cause, tc.detail)
			}
		})
	}
	clean, _ := f.Accept(raw(false, "name", "Ada", "email", "a@example.com"), domain.SubmissionMeta{}, rules, now)
	if err := clean.SetStatus(domain.SubmissionSpam, now); err != nil || clean.SpamReason().Cause != domain.SpamManual {
		t.Errorf("filed as spam by hand: %v, reason %+v; want manual", err, clean.SpamReason())
	}
	if err := clean.SetStatus(domain.SubmissionSpam, now); err != nil || clean.SpamReason().Cause != domain.SpamManual {
		t.Errorf("filed as spam again: %v, reason %+v; want manual still", err, clean.SpamReason())
	}
	if _, err := clean.NotSpam(domain.SubmissionNew, now); err != nil || !clean.SpamReason().IsZero() {
		t.Errorf("marked not spam: %v, reason %+v; want none", err, clean.SpamReason())
	}
	if s := domain.RehydrateSubmission("sub_x", f.ID(), "ws_x", nil, domain.SubmissionNew, domain.SubmissionMeta{}, now, now).
		RehydrateSpamReason(domain.SpamReason{Cause: domain.SpamLinks}); !s.SpamReason().IsZero() {
		t.Errorf("a submission that is not spam rehydrated with a reason keeps %+v", s.SpamReason())
	}
	for _, s := range []string{"", "honeypot", "links", "timing", "manual"} {
		if c, ok := domain.ParseSpamCause(s); !ok || c.String() != s {
			t.Errorf("ParseSpamCause(%q) = %q, %v", s, c, ok)
		}
	}
	if _, ok := domain.ParseSpamCause("other"); ok {
		t.Error(`ParseSpamCause("other") is accepted`)
	}
}

// TestFormLinkLimit: a form's own threshold replaces the instance's both
// ways, 0 turns the check off, and it is bounded.
func TestFormLinkLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	six := strings.Repeat("read https://docs.example/page ", 6)
	instance := domain.SpamRules{MaxLinks: 5}
	for _, tc := range []struct {
		name  string
		limit *int
		spam  bool
	}{
		{"InstanceRule", nil, true},
		{"Ten", ptr(10), false},
		{"Off", ptr(0), false},
		{"Three", ptr(3), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := contactForm()
			in.MaxLinks = tc.limit
			f, err := domain.NewForm("ws_x", in, now)
			if err != nil {
				t.Fatal(err)
			}
			s, err := f.Accept(raw(false, "name", "Ada", "email", "a@example.com", "message", six), domain.SubmissionMeta{}, instance, now)
			if err != nil || s.IsSpam() != tc.spam {
				t.Errorf("six links: %v spam=%v, want spam=%v", err, s.IsSpam(), tc.spam)
			}
		})
	}
	for _, bad := range []int{-1, domain.MaxLinksLimit + 1} {
		in := contactForm()
		in.MaxLinks = &bad
		if _, err := domain.NewForm("ws_x", in, now); !strings.Contains(strings.Join(fieldsOf(err), " "), "max_links") {
			t.Errorf("max_links %d: %v, want a max_links error", bad, err)
		}
	}
	// The form keeps its own copy of the limit.
	in, n := contactForm(), 10
	in.MaxLinks = &n
	f, _ := domain.NewForm("ws_x", in, now)
	n = 1
	if got := f.Definition().MaxLinks; got == nil || *got != 10 {
		t.Errorf("MaxLinks after the caller changed its variable = %v, want 10", got)
	}
}

// TestSubmitButtonIsIgnored: in a form encoding, the one name the form
// does not define, sent once with a short value, is taken to be the submit
// button's (<button name="send" value="Send"> sends "send=Send"): it is
// left out of the values and kept as the submission's ignored field. A
// second unknown name, a repeated one, a long value or JSON is still
// unknown_field, naming every unknown name.
func TestSubmitButtonIsIgnored(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", domain.MaxSubmitButtonText)
	for _, tc := range []struct {
		name    string
		raw     domain.RawSubmission
		ignored string // the ignored field; "" when Accept must refuse
		unknown string // the fields a refusal names
	}{
		{"EmptyButton", raw(true, "name", "Ada", "email", "a@example.com", "send", ""), "send", ""},
		{"ButtonWithValue", raw(true, "name", "Ada", "email", "a@example.com", "send", "Send"), "send", ""},
		{"ButtonFirst", raw(true, "send", "Send", "name", "Ada", "email", "a@example.com", "website", ""), "send", ""},
		{"LongestValue", raw(true, "name", "Ada", "email", "a@example.com", "send", long), "send", ""},
		// A misspelt input alone cannot be told from a button: it is
		// ignored, and its name stays on the submission to be noticed.
		{"MisspeltInput", raw(true, "name", "Ada", "emial", "a@example.com", "email", "a@example.com"), "emial", ""},
		{"LongValue", raw(true, "name", "Ada", "email", "a@example.com", "send", long+"x"), "", "send:unknown_field"},
		{"LongName", raw(true, "name", "Ada", "email", "a@example.com", strings.Repeat("s", domain.MaxSubmitButtonText+1), ""), "", strings.Repeat("s", domain.MaxSubmitButtonText+1) + ":unknown_field"},
		{"JSON", raw(false, "name", "Ada", "email", "a@example.com", "send", "Send"), "", "send:unknown_field"},
		{"JSONEmpty", raw(false, "name", "Ada", "email", "a@example.com", "send", ""), "", "send:unknown_field"},
		{"TwoUnknown", raw(true, "name", "Ada", "email", "a@example.com", "send", "Send", "go", ""), "", "send:unknown_field,go:unknown_field"},
		{"ButtonAndMisspelt", raw(true, "name", "Ada", "emial", "a@example.com", "send", "Send"), "", "emial:unknown_field,send:unknown_field"},
		{"Twice", raw(true, "name", "Ada", "email", "a@example.com", "send", "Send", "send", "Send"), "", "send:unknown_field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := f.Accept(tc.raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
			if tc.ignored != "" {
				if err != nil {
					t.Fatalf("Accept = %v, want %s ignored", err, tc.ignored)
				}
				if s.IgnoredField() != tc.ignored {
					t.Errorf("IgnoredField = %q, want %q", s.IgnoredField(), tc.ignored)
				}
				for _, v := range s.Values() {
					if v.Field == tc.ignored {
						t.Errorf("the ignored field's value is stored: %+v", v)
					}
				}
				return
			}
			if !errors.Is(err, domain.ErrUnknownField) {
				t.Fatalf("Accept = %v, want unknown_field", err)
			}
			if got := strings.Join(fieldsOf(err), ","); got != tc.unknown {
				t.Errorf("unknown fields %q, want %q", got, tc.unknown)
			}
		})
	}
	// A submission without an unknown name ignores nothing.
	s, err := f.Accept(raw(true, "name", "Ada", "email", "a@example.com"), domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil || s.IgnoredField() != "" {
		t.Errorf("no unknown name: %v, ignored %q", err, s.IgnoredField())
	}
	// A form that defines the button's name stores it as any field.
	in := contactForm()
	in.Fields = append(in.Fields, domain.Field{Name: "send", Type: domain.FieldText})
	g, _ := domain.NewForm("ws_x", in, now)
	s, err = g.Accept(raw(true, "name", "Ada", "email", "a@example.com", "send", "Send"), domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil || s.Get("send") != "Send" || s.IgnoredField() != "" {
		t.Errorf("a defined send field: %v, stored %q, ignored %q", err, s.Get("send"), s.IgnoredField())
	}
}
