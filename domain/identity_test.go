package domain_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keelhq/keel/domain"
)

func TestParseMailFrom(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"":                                 "",
		"   ":                              "",
		"hello@acme.test":                  "hello@acme.test",
		"Acme <hello@acme.test>":           "Acme <hello@acme.test>",
		`  "Acme, Inc." <hello@acme.test>`: `"Acme, Inc." <hello@acme.test>`,
		"Café Ünïcode <hello@acme.test>":   "Café Ünïcode <hello@acme.test>",
	}
	for in, want := range good {
		got, err := domain.ParseMailFrom(in)
		if err != nil || got != want {
			t.Errorf("ParseMailFrom(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"Acme",
		"Acme <>",
		"hello@",
		"a@acme.test, b@acme.test",             // one sender only
		"Acme <hello@acme.test>\r\nBcc: x@y.z", // header injection
		"Acme\r\n <hello@acme.test>",           // folded: still a line break
		"Acme <hello@acme.test",
		strings.Repeat("x", 320) + " <hello@acme.test>",
	} {
		_, err := domain.ParseMailFrom(in)
		if got := fieldsOf(err); !slices.Equal(got, []string{"mail_from:invalid_address"}) {
			t.Errorf("ParseMailFrom(%q): fields = %v (err %v), want mail_from:invalid_address", in, got, err)
		}
	}
}

func TestWorkspaceSender(t *testing.T) {
	t.Parallel()
	const instance = "Keel <keel@example.com>"
	w, err := domain.NewWorkspace("Acme", "acme", now)
	if err != nil {
		t.Fatal(err)
	}
	if w.MailFrom() != "" || w.Sender(instance) != instance {
		t.Errorf("new workspace: MailFrom = %q, Sender = %q; want the instance's", w.MailFrom(), w.Sender(instance))
	}
	if err := w.Update(domain.WorkspaceChange{MailFrom: new(" Acme <hello@acme.test> ")}); err != nil {
		t.Fatal(err)
	}
	// An address nobody verified is not used: anyone could name any.
	if w.MailFrom() != "Acme <hello@acme.test>" || w.SenderStatus() != domain.SenderUnverified || w.Sender(instance) != instance {
		t.Errorf("after Update: MailFrom = %q (%v), Sender = %q; want the instance's", w.MailFrom(), w.SenderStatus(), w.Sender(instance))
	}
	other, _ := domain.ParseSenderDomains([]string{"example.org"})
	if w.VerifySender(other) || w.Sender(instance) != instance {
		t.Errorf("a domain not allowed verified the sender")
	}
	allowed, _ := domain.ParseSenderDomains([]string{" ACME.test "})
	if !w.VerifySender(allowed) || w.Sender(instance) != "Acme <hello@acme.test>" {
		t.Errorf("after VerifySender: %v, Sender = %q; want the workspace's", w.SenderStatus(), w.Sender(instance))
	}
	if err := w.Update(domain.WorkspaceChange{MailFrom: new("")}); err != nil {
		t.Fatal(err)
	}
	if w.Sender(instance) != instance {
		t.Errorf("after clearing: Sender = %q, want the instance's", w.Sender(instance))
	}
}

// TestWorkspaceUpdateIsAllOrNothing: every bad setting is reported, and
// none of the good ones applied.
func TestWorkspaceUpdateIsAllOrNothing(t *testing.T) {
	t.Parallel()
	w, err := domain.NewWorkspace("Acme", "acme", now)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Update(domain.WorkspaceChange{Name: new("Acme 2"), Slug: new("Not A Slug"), MailFrom: new("nobody")})
	if got := fieldsOf(err); !slices.Equal(got, []string{"slug:invalid_slug", "mail_from:invalid_address"}) {
		t.Errorf("fields = %v, want slug and mail_from", got)
	}
	if w.Name() != "Acme" || w.Slug() != "acme" || w.MailFrom() != "" {
		t.Errorf("after a refused Update: %q %q %q, want it unchanged", w.Name(), w.Slug(), w.MailFrom())
	}
}

func TestParsePublicOrigins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want string // joined; "!" for an error
	}{
		{[]string{"*"}, "*"},
		{[]string{}, ""},
		{[]string{" https://WWW.Example.com ", "https://www.example.com", "http://localhost:3000"}, "https://www.example.com http://localhost:3000"},
		{[]string{"*", "https://a.test"}, "!"},
		{[]string{"https://a.test/"}, "!"},
		{[]string{"https://a.test?x=1"}, "!"},
		{[]string{"https://user@a.test"}, "!"},
		{[]string{"javascript:alert(1)"}, "!"},
		{[]string{"a.test"}, "!"},
	} {
		got, err := domain.ParsePublicOrigins(tc.in)
		if tc.want == "!" {
			if err == nil {
				t.Errorf("ParsePublicOrigins(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("ParsePublicOrigins(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	w, _ := domain.NewWorkspace("Site", "site", now)
	if !w.AllowsPublicOrigin("https://anything.test") {
		t.Error("a new workspace does not allow any origin")
	}
	_ = w.Update(domain.WorkspaceChange{PublicOrigins: &[]string{"https://a.test"}})
	if !w.AllowsPublicOrigin("https://A.test") || w.AllowsPublicOrigin("https://b.test") {
		t.Error("listed origins are not what is allowed")
	}
}
