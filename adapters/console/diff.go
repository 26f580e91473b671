package console

import (
	"strings"
)

// maxDiffCells bounds the work of one line diff: the longest common
// subsequence table of the lines that differ has one cell per pair of
// them. A body may be 1 MiB, hundreds of thousands of lines, so two
// bodies that share little could ask for billions of cells; past this
// bound (about 1,400 changed lines on each side, 4 MB of table) the page
// says the versions are too different to compare rather than make the
// request, and everyone else's with it, wait.
const maxDiffCells = 2_000_000

// diffContext is how many unchanged lines a diff keeps around each change;
// longer unchanged runs are folded into one "unchanged lines" marker.
const diffContext = 3

// diffOp says what a line of a diff is.
type diffOp int

const (
	diffSame diffOp = iota
	diffDel         // only in the old text
	diffAdd         // only in the new text
	diffFold        // a run of unchanged lines left out, Fold of them
)

// diffLine is one line of a diff as a page shows it.
type diffLine struct {
	Op   diffOp
	Text string
	Fold int // how many unchanged lines a diffFold stands for
}

// Del, Add and Folded are for templates, which cannot compare an Op.
func (l diffLine) Del() bool    { return l.Op == diffDel }
func (l diffLine) Add() bool    { return l.Op == diffAdd }
func (l diffLine) Folded() bool { return l.Op == diffFold }

// lineDiff is the result of comparing two texts line by line. TooDifferent
// is set, and Lines empty, when comparing them would cost more than
// maxDiffCells; Same when they are equal.
type lineDiff struct {
	Lines        []diffLine
	TooDifferent bool
	Same         bool
}

// diffLines compares old and new line by line: the lines both share at
// the start and the end are matched first, in linear time, so a small
// edit of a large body stays cheap; the rest is matched by the longest
// common subsequence, within maxDiffCells.
func diffLines(old, new string) lineDiff {
	if old == new {
		return lineDiff{Same: true}
	}
	a, b := splitDiffLines(old), splitDiffLines(new)
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if len(ma) > 0 && len(mb) > 0 && len(ma) > maxDiffCells/len(mb) {
		return lineDiff{TooDifferent: true}
	}
	var ops []diffLine
	for _, l := range a[:pre] {
		ops = append(ops, diffLine{Op: diffSame, Text: l})
	}
	ops = append(ops, lcsDiff(ma, mb)...)
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, diffLine{Op: diffSame, Text: l})
	}
	return lineDiff{Lines: foldUnchanged(ops)}
}

// splitDiffLines splits a text into lines without their endings; "\r\n" and
// "\n" end a line alike, since browsers send text areas with "\r\n".
func splitDiffLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// lcsDiff matches a and b by their longest common subsequence. The caller
// keeps len(a)*len(b) within maxDiffCells, so min(len(a), len(b)) is at
// most about 1,400 and every length fits in a uint16.
func lcsDiff(a, b []string) []diffLine {
	n, m := len(a), len(b)
	// t[i*(m+1)+j] is the length of the LCS of a[i:] and b[j:].
	t := make([]uint16, (n+1)*(m+1))
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			switch {
			case a[i] == b[j]:
				t[i*(m+1)+j] = t[(i+1)*(m+1)+j+1] + 1
			case t[(i+1)*(m+1)+j] >= t[i*(m+1)+j+1]:
				t[i*(m+1)+j] = t[(i+1)*(m+1)+j]
			default:
				t[i*(m+1)+j] = t[i*(m+1)+j+1]
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, diffLine{Op: diffSame, Text: a[i]})
			i++
			j++
		case t[(i+1)*(m+1)+j] >= t[i*(m+1)+j+1]:
			out = append(out, diffLine{Op: diffDel, Text: a[i]})
			i++
		default:
			out = append(out, diffLine{Op: diffAdd, Text: b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{Op: diffDel, Text: a[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{Op: diffAdd, Text: b[j]})
	}
	return out
}

// foldUnchanged keeps diffContext unchanged lines on each side of a change and
// replaces every longer unchanged run with one diffFold line.
func foldUnchanged(ops []diffLine) []diffLine {
	var out []diffLine
	for i := 0; i < len(ops); {
		if ops[i].Op != diffSame {
			out = append(out, ops[i])
			i++
			continue
		}
		j := i
		for j < len(ops) && ops[j].Op == diffSame {
			j++
		}
		keepHead, keepTail := diffContext, diffContext
		if i == 0 {
			keepHead = 0
		}
		if j == len(ops) {
			keepTail = 0
		}
		if j-i <= keepHead+keepTail {
			out = append(out, ops[i:j]...)
		} else {
			out = append(out, ops[i:i+keepHead]...)
			out = append(out, diffLine{Op: diffFold, Fold: j - i - keepHead - keepTail})
			out = append(out, ops[j-keepTail:j]...)
		}
		i = j
	}
	return out
}
