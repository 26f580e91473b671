package domain

import "unicode/utf8"

// TruncateUTF8 returns the longest prefix of s that is at most n bytes and
// ends on a character boundary, so that a cut never leaves half of a
// multi-byte character (which would make the text invalid UTF-8, shown as
// a replacement character or refused by a mail relay or database).
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// TruncateRunes returns s cut to at most n characters.
func TruncateRunes(s string, n int) string {
	if len(s) <= n {
		return s // n bytes hold at least n characters
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
