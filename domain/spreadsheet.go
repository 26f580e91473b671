package domain

import (
	"strings"
	"unicode"
)

// SpreadsheetCell keeps a spreadsheet from running a cell of an exported
// CSV file as a formula (CSV injection): a cell that starts with a tab or
// a carriage return, or whose first visible character is = + - or @, gets
// a leading apostrophe, which spreadsheets show as text. Both of Keel's
// exports, the API's and the console's, write every cell through it. Visible means after any blanks and
// invisible format characters (a byte order mark, zero-width spaces and
// joiners, the word joiner), which spreadsheets skip or users cannot see;
// the full-width and small forms of the four signs count as the signs,
// since some spreadsheets read them so.
func SpreadsheetCell(cell string) string {
	if cell == "" {
		return cell
	}
	if cell[0] == '\t' || cell[0] == '\r' {
		return "'" + cell
	}
	for _, r := range cell {
		if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if strings.ContainsRune(formulaSigns, r) {
			return "'" + cell
		}
		return cell
	}
	return cell
}

// formulaSigns are the characters that start a formula: = + - @ and their
// full-width (U+FF1D, U+FF0B, U+FF0D, U+FF20) and small (U+FE66, U+FE62,
// U+FE63, U+FE6B) forms.
const formulaSigns = "=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b"
