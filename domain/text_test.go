package domain_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keelhq/keel/domain"
)

func TestTruncateKeepsWholeCharacters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s         string
		n         int
		bytes     string // TruncateUTF8(s, n)
		runes     string // TruncateRunes(s, n)
		wantRunes int
	}{
		{"abc", 5, "abc", "abc", 3},
		{"abc", 3, "abc", "abc", 3},
		{"abc", 0, "", "", 0},
		{"aé", 2, "a", "aé", 2},            // é is 2 bytes: a cut at 2 would split it
		{"a€b", 3, "a", "a€b", 3},          // € is 3 bytes
		{"a€b", 2, "a", "a€", 2},           //
		{"😀😀", 5, "😀", "😀😀", 2},            // 4 bytes each
		{"😀😀", 1, "", "😀", 1},              //
		{"ééé", 4, "éé", "ééé", 3},         // a cut exactly on a boundary
		{"日本語テキスト", 7, "日本", "日本語テキスト", 7}, //
	} {
		if got := domain.TruncateUTF8(tc.s, tc.n); got != tc.bytes || !utf8.ValidString(got) {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.bytes)
		}
		if got := domain.TruncateRunes(tc.s, tc.n); got != tc.runes {
			t.Errorf("TruncateRunes(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.runes)
		}
	}
}

// TestTruncationSitesKeepWholeCharacters covers every place the domain
// cuts client- or server-supplied text: attempt errors, submission
// metadata, audit user agents and quoted scopes.
func TestTruncationSitesKeepWholeCharacters(t *testing.T) {
	t.Parallel()
	m, _ := domain.NewMessage(domain.MessageInput{From: "a@example.com", To: []string{"b@example.com"}, Text: "x"}, now)
	o := domain.NewOutboxMessage(m, "ws_x", "", domain.KindNotification, "", now)
	o.Failed(errors.New("x"+strings.Repeat("é", 2000)), true, domain.DefaultRetryPolicy, now)
	if e := o.Attempts[0].Error; !utf8.ValidString(e) || len(e) != 1999 {
		t.Errorf("attempt error of %d bytes, valid UTF-8 %v; want 1999 bytes of whole characters", len(e), utf8.ValidString(e))
	}

	f, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		t.Fatal(err)
	}
	raw := domain.RawSubmission{Fields: map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}}, Order: []string{"name", "email"}}
	ua := "x" + strings.Repeat("€", 400)
	s, err := f.Accept(raw, domain.SubmissionMeta{UserAgent: ua, Referrer: ua, Origin: ua}, domain.SpamRules{}, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"user agent": s.Meta().UserAgent, "referrer": s.Meta().Referrer, "origin": s.Meta().Origin} {
		if v != ua[:1+333*3] {
			t.Errorf("%s kept as %d bytes, want the 334 whole characters that fit in 1000", name, len(v))
		}
	}

	ev := domain.NewAuditEvent(domain.AuditEvent{Action: "login", UserAgent: "x" + strings.Repeat("€", 200)}, now)
	if ev.UserAgent != "x"+strings.Repeat("€", 170) {
		t.Errorf("audit user agent kept as %d bytes (valid UTF-8 %v), want the 171 whole characters that fit in 512", len(ev.UserAgent), utf8.ValidString(ev.UserAgent))
	}

	_, err = domain.ParseScopes([]string{"x" + strings.Repeat("é", 30)})
	var de *domain.Error
	if !errors.As(err, &de) || len(de.Fields) != 1 || !utf8.ValidString(de.Fields[0].Message) {
		t.Errorf("ParseScopes error %v: message not valid UTF-8", err)
	}
}
