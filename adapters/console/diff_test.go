package console

import (
	"fmt"
	"strings"
	"testing"
)

func render(d lineDiff) string {
	var b strings.Builder
	for _, l := range d.Lines {
		switch l.Op {
		case diffSame:
			b.WriteString("  " + l.Text + "\n")
		case diffDel:
			b.WriteString("- " + l.Text + "\n")
		case diffAdd:
			b.WriteString("+ " + l.Text + "\n")
		case diffFold:
			fmt.Fprintf(&b, "… %d\n", l.Fold)
		}
	}
	return b.String()
}

func TestDiffLines(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, old, new, want string
	}{
		{"an added line", "a\nb\nc", "a\nb\nx\nc", "  a\n  b\n+ x\n  c\n"},
		{"a changed line", "a\nb\nc\n", "a\nB\nc\n", "  a\n- b\n+ B\n  c\n"},
		{"from nothing", "", "a\nb", "+ a\n+ b\n"},
		{"to nothing", "a", "", "- a\n"},
		{"crlf is no change", "a\r\nb\r\n", "a\nb\nc", "  a\n  b\n+ c\n"},
		{"a move", "a\nb\nc\nd", "b\nc\nd\na", "- a\n  b\n  c\n  d\n+ a\n"},
		{
			"long unchanged runs fold",
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12",
			"1\n2\n3\n4\n5\nsix\n7\n8\n9\n10\n11\n12",
			"… 2\n  3\n  4\n  5\n- 6\n+ six\n  7\n  8\n  9\n… 3\n",
		},
	}
	for _, c := range cases {
		if got := render(diffLines(c.old, c.new)); got != c.want {
			t.Errorf("%s: diff is\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
	if d := diffLines("same\n", "same\n"); !d.Same || len(d.Lines) != 0 {
		t.Errorf("equal texts: %+v", d)
	}
}

func TestDiffOfVeryDifferentTextsIsBounded(t *testing.T) {
	t.Parallel()
	var a, b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&a, "old line %d\n", i)
		fmt.Fprintf(&b, "new line %d\n", i)
	}
	if d := diffLines(a.String(), b.String()); !d.TooDifferent || len(d.Lines) != 0 {
		t.Errorf("3,000 changed lines on each side: TooDifferent %v with %d lines", d.TooDifferent, len(d.Lines))
	}
	// A one-line change in the same large body is cheap: the shared
	// start and end are matched before any table is built.
	changed := strings.Replace(a.String(), "old line 1500\n", "edited\n", 1)
	d := diffLines(a.String(), changed)
	if d.TooDifferent || render(d) != "… 1497\n  old line 1497\n  old line 1498\n  old line 1499\n- old line 1500\n+ edited\n  old line 1501\n  old line 1502\n  old line 1503\n… 1496\n" {
		t.Errorf("one changed line in 3,000:\n%s", render(d))
	}
}
