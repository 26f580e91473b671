package console

import "testing"

// A list's next-page link carries the cursor and the filters that have a
// value, and there is none without a cursor.
func TestNextPageKeepsTheFiltersThatHaveAValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		next string
		keep []string
		want string
	}{
		{"", []string{"status", "new"}, ""},
		{"c1", nil, "/console/x?after=c1"},
		{"c 2", []string{"status", "spam", "q", ""}, "/console/x?after=c+2&status=spam"},
		{"c3", []string{"q", "a&b", "kind", "post"}, "/console/x?after=c3&kind=post&q=a%26b"},
	} {
		if got := nextPage("/console/x", c.next, c.keep...); got != c.want {
			t.Errorf("nextPage(%q, %q) = %q, want %q", c.next, c.keep, got, c.want)
		}
	}
}
