package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

func fieldCode(err error) string {
	var de *domain.Error
	if !errors.As(err, &de) || len(de.Fields) == 0 {
		return ""
	}
	return de.Fields[0].Code
}

// TestCheckPassword holds the weak passwords of issue 9 and NIST SP
// 800-63B's other rules.
func TestCheckPassword(t *testing.T) {
	t.Parallel()
	const email, name = domain.Email("ada.lovelace@example.com"), "Ada Lovelace"
	for _, tc := range []struct{ pw, code string }{
		{"aaaaaaaaaa", "password_repeated"},
		{"password12", "password_common"},
		{"Password12", "password_common"},
		{"qwertyuiop", "password_common"},
		{strings.Repeat(" ", 10), "password_whitespace"},
		{strings.Repeat("\x00", 10), "password_control"},
		{"correct horse\x00battery", "password_control"},
		{"correct horse\nbattery", "password_control"},
		{"ééééééééé", "password_too_short"}, // nine code points, 18 bytes
		{"short", "password_too_short"},
		{strings.Repeat("ab", 129), "password_too_long"},
		{"\xff\xfe correct horse battery", "invalid_utf8"},
		{"ADA.LOVELACE@example.com", "password_matches_account"},
		{"ada.lovelace", "password_matches_account"},
		{" ada lovelace ", "password_matches_account"},
		{"ééééééééééé", "password_repeated"},
		// Accepted: no composition rules, spaces and any script welcome,
		// long pass phrases fit.
		{"correct horse battery", ""},
		{"éèêëēėęîïíī", ""},
		{"пароль-для-кеел", ""},
		{strings.Repeat("abcd efgh ", 6) + "ijkl", ""}, // 64 characters
		{strings.Repeat("ab", 128), ""},                // 256 bytes
	} {
		if got := fieldCode(domain.CheckPassword("password", tc.pw, email, name)); got != tc.code {
			t.Errorf("CheckPassword(%q) = %q, want %q", tc.pw, got, tc.code)
		}
	}
}

// TestNamesRefuseControlCharacters covers user and workspace names.
func TestNamesRefuseControlCharacters(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Ada", true},
		{"Zoë Ñúñez", true},
		{"👩‍💻 Ada", true}, // the zero-width joiner of an emoji sequence
		{"Ada\x00", false},
		{"Ada\x1b[31m", false},
		{"Ada\x1c", false},
		{"Ada\tLovelace", false},
		{"Ada\nLovelace", false},
		{"Ada\u0085Lovelace", false},  // next line, a C1 control
		{"Ada\u2028Lovelace", false},  // line separator
		{"\u202eecalevoL adA", false}, // right-to-left override
		{"Ada\u2066x\u2069", false},   // isolates
		{strings.Repeat("\x00", 10), false},
	} {
		_, uerr := domain.NewUser(domain.NewUserInput{Email: "ada@example.com", Name: tc.name}, now)
		_, werr := domain.NewWorkspace(tc.name, "docs", now)
		for what, err := range map[string]error{"user": uerr, "workspace": werr} {
			if got := fieldCode(err) == ""; got != tc.ok {
				t.Errorf("%s name %q: err = %v, want ok = %v", what, tc.name, err, tc.ok)
			} else if !tc.ok && fieldCode(err) != "invalid_name" {
				t.Errorf("%s name %q: code %q, want invalid_name", what, tc.name, fieldCode(err))
			}
		}
	}
}
