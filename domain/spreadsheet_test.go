package domain_test

import (
	"testing"

	"github.com/keelhq/keel/domain"
)

func TestSpreadsheetCell(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"=1+1", "'=1+1"}, {"+1", "'+1"}, {"-1", "'-1"}, {"@SUM(A1)", "'@SUM(A1)"}, {"\tx", "'\tx"}, {"\rx", "'\rx"},
		{"", ""}, {"plain", "plain"}, {"a=b", "a=b"}, {"1-2", "1-2"}, {" ", " "}, {"\u200b", "\u200b"},
		// Spreadsheets skip leading blanks and invisible characters, and
		// some read full-width signs as their ASCII twins.
		{" =1", "' =1"}, {"  \t+1", "'  \t+1"}, {"\u00a0=1", "'\u00a0=1"}, {"\n=1", "'\n=1"},
		{"\ufeff=1", "'\ufeff=1"}, {"\u200b=1", "'\u200b=1"}, {"\u200c+1", "'\u200c+1"}, {"\u200d-1", "'\u200d-1"},
		{"\u2060@x", "'\u2060@x"}, {"\ufeff\u200b =1", "'\ufeff\u200b =1"},
		{"\uff1d1+1", "'\uff1d1+1"}, {"\uff0b1", "'\uff0b1"}, {"\uff0d1", "'\uff0d1"}, {"\uff20SUM(A1)", "'\uff20SUM(A1)"},
		{"\u3000\uff1d1", "'\u3000\uff1d1"}, {"\u200bplain", "\u200bplain"}, {" plain", " plain"},
	} {
		if got := domain.SpreadsheetCell(c.in); got != c.want {
			t.Errorf("SpreadsheetCell(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
