package domain

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"unicode/utf8"
)

// Go's regular expressions (RE2) never backtrack exponentially, but
// matching still costs up to the compiled program's size times the length
// of the value, and a visitor chooses the value. So a pattern is bounded
// in its program size, each field's value is refused for length before
// the pattern runs, and the form as a whole is bounded in the product of
// the two, summed over its patterns: that product is the most matching
// work one submission can cause.

// Limits on field patterns.
const (
	MaxPatternLen   = 500  // characters of a pattern's source
	MaxPatternInsts = 1000 // instructions of its compiled program
	// MaxPatternWork bounds, per form, the sum over its patterns of the
	// program size times the longest value the pattern is matched against
	// (in characters): a field with a pattern of 10 instructions may take
	// values of up to 100,000 characters, one of 1,000 up to 1,000.
	MaxPatternWork = 1_000_000
)

// compilePattern compiles a field's pattern, anchored to the whole value,
// and returns its program size. It estimates the size from the parsed
// expression before expanding repetitions, so that a short pattern such
// as (a{1000}){1000} is refused without building its million instructions.
func compilePattern(p string) (*regexp.Regexp, int, string) {
	const bad = "The pattern is not a valid regular expression (RE2 syntax)."
	if utf8.RuneCountInString(p) > MaxPatternLen {
		return nil, 0, "Use at most " + strconv.Itoa(MaxPatternLen) + " characters."
	}
	src := `^(?:` + p + `)$`
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, 0, bad
	}
	tooBig := "The pattern is too large: its program may have at most " + strconv.Itoa(MaxPatternInsts) + " instructions; use smaller repetition counts."
	if estimateInsts(re) > 4*MaxPatternInsts {
		return nil, 0, tooBig
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, 0, bad
	}
	if len(prog.Inst) > MaxPatternInsts {
		return nil, 0, tooBig
	}
	compiled, err := regexp.Compile(src)
	if err != nil {
		return nil, 0, bad
	}
	return compiled, len(prog.Inst), ""
}

// estimateInsts is an upper estimate of the instructions re compiles to,
// saturating instead of overflowing.
func estimateInsts(re *syntax.Regexp) int {
	const ceiling = 1 << 30
	sum := func(subs []*syntax.Regexp) int {
		n := 0
		for _, s := range subs {
			n = min(n+estimateInsts(s)+1, ceiling)
		}
		return n
	}
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) + 1
	case syntax.OpConcat, syntax.OpAlternate:
		return sum(re.Sub)
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return min(sum(re.Sub)+2, ceiling)
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		return min(max(n, 1)*(sum(re.Sub)+1), ceiling)
	}
	return 2
}

// patternLimit is the longest value, in characters, that fd's pattern can
// be matched against: a select's longest option, a multiselect's options
// together (each is matched once at most), else the field's max_length or
// the limit on every value.
func (fd Field) patternLimit() int {
	switch fd.Type {
	case FieldSelect, FieldMultiselect:
		n := 0
		for _, o := range fd.Options {
			if fd.Type == FieldSelect {
				n = max(n, utf8.RuneCountInString(o))
			} else {
				n += utf8.RuneCountInString(o)
			}
		}
		return n
	}
	if fd.MaxLength != nil {
		return *fd.MaxLength
	}
	return MaxFieldValueLen
}
