package domain

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Password length limits, after NIST SP 800-63B: at least 10 characters
// (NIST asks for 8; Keel keeps its stricter minimum), counted in code
// points, and at most 256 bytes, far above NIST's 64, so that pass phrases
// fit while a megabyte "password" cannot become a hashing denial of
// service.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// commonPasswordList is the common password list, one a line, sorted; see
// passwords/README.md for its source and licence.
//
//go:embed passwords/common.txt
var commonPasswordList string

// commonPasswords splits the list once, on first use.
var commonPasswords = sync.OnceValue(func() []string {
	return strings.Split(strings.TrimSuffix(commonPasswordList, "\n"), "\n")
})

// IsCommonPassword reports whether pw, lower-cased, is on the common
// password list shipped in the binary.
func IsCommonPassword(pw string) bool {
	_, found := slices.BinarySearch(commonPasswords(), strings.ToLower(pw))
	return found
}

// CheckPassword enforces NIST SP 800-63B on a new password for the account
// with the given e-mail address and name: a length in bounds, no control
// characters, and not a value an attacker tries first (only whitespace,
// one character repeated, a common or breached password, the account's
// own address or name). There are no composition rules: NIST found that
// they make passwords harder to remember, not to guess.
func CheckPassword(field, pw string, email Email, name string) error {
	bad := func(code, msg string) error { return Invalid(FieldError{field, code, msg}) }
	switch {
	case !utf8.ValidString(pw):
		return bad("invalid_utf8", "The password must be valid UTF-8.")
	case len(pw) > MaxPasswordLen:
		return bad("password_too_long", "Use at most 256 bytes.")
	case strings.ContainsFunc(pw, unicode.IsControl):
		return bad("password_control", "The password must not contain control characters.")
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return bad("password_too_short", "Use at least 10 characters.")
	case strings.TrimSpace(pw) == "":
		return bad("password_whitespace", "Use more than spaces.")
	case oneRuneRepeated(pw):
		return bad("password_repeated", "Use more than one character repeated.")
	case IsCommonPassword(pw):
		return bad("password_common", "This password is on a list of common passwords; choose another.")
	case sameText(pw, email.String()), sameText(pw, localPart(email)), sameText(pw, name):
		return bad("password_matches_account", "Do not use your e-mail address or name as your password.")
	}
	return nil
}

// oneRuneRepeated reports whether s is one character, repeated.
func oneRuneRepeated(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	return strings.TrimLeft(s, string(first)) == ""
}

// localPart returns the part of an address before its last @.
func localPart(e Email) string {
	s := e.String()
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return s
}

// sameText compares a password with an account detail as a person would:
// ignoring case and surrounding spaces.
func sameText(pw, detail string) bool {
	detail = strings.TrimSpace(detail)
	return detail != "" && strings.EqualFold(strings.TrimSpace(pw), detail)
}
