// Package cursor encodes the opaque pagination cursors of listings that
// are not ordered by ID alone, for every storage adapter alike: base64 of
// a tag and fields, checked strictly when they come back, so that anything
// a listing could not have returned is refused rather than queried.
package cursor

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Encode makes a cursor of a tag naming the listing's order and the
// fields that locate the last item returned.
func Encode(tag string, fields ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tag + ":" + strings.Join(fields, ":")))
}

// Decode returns the n fields of a cursor made by Encode with tag, or ok
// false.
func Decode(s, tag string, n int) ([]string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	rest, ok := strings.CutPrefix(string(b), tag+":")
	if !ok {
		return nil, false
	}
	fields := strings.Split(rest, ":")
	return fields, len(fields) == n
}

// Natural parses a decimal integer from 0 to max written as strconv.Itoa
// would, so that every value has one cursor.
func Natural(s string, max int) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && n <= max && strconv.Itoa(n) == s
}
