package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelhq/keel/domain"
)

func patternForm(fields ...domain.Field) domain.FormInput {
	return domain.FormInput{Name: "P", Fields: fields}
}

func patternProblem(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		for _, f := range de.Fields {
			if f.Code == "invalid_pattern" {
				return f.Field + ": " + f.Message
			}
		}
	}
	return ""
}

// TestPatternsAreBoundedAtSave: the pattern is refused at save,
// as is a short pattern whose repetitions expand to a large program, and
// a pattern that could be matched against values too long for its size,
// alone or with the form's other patterns.
func TestPatternsAreBoundedAtSave(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		fields []domain.Field
		want   string // "" accepted, else part of the problem
	}{
		"the issue's attack": {[]domain.Field{
			{Name: "a", Type: domain.FieldText, Pattern: `(\w+\s?){1,1000}x`, MaxLength: ptr(10)},
		}, "at most 1000 instructions"},
		"nested repetitions": {[]domain.Field{
			{Name: "a", Type: domain.FieldText, Pattern: `((abcdefghij){10}){100}`, MaxLength: ptr(1)},
		}, "at most 1000 instructions"},
		"too long": {[]domain.Field{{Name: "a", Type: domain.FieldText, Pattern: strings.Repeat("a", 501), MaxLength: ptr(1)}}, "at most 500"},
		"small pattern, any length": {[]domain.Field{
			{Name: "a", Type: domain.FieldText, Pattern: `[A-Z]{2}\d+`},
		}, ""},
		"larger pattern needs max_length": {[]domain.Field{
			{Name: "a", Type: domain.FieldText, Pattern: `[A-Z]{2}\d{4}(-\d{4})?`},
		}, "set a lower max_length"},
		"larger pattern with max_length": {[]domain.Field{
			{Name: "a", Type: domain.FieldText, Pattern: `[A-Z]{2}\d{4}(-\d{4})?`, MaxLength: ptr(100)},
		}, ""},
		"largest program, short values": {[]domain.Field{
			{Name: "a", Type: domain.FieldText, Pattern: `(\w+\s?){1,130}x`, MaxLength: ptr(1000)},
		}, ""},
		"the form's patterns together": {[]domain.Field{
			{Name: "a", Type: domain.FieldText, Pattern: `(\w+\s?){1,130}x`, MaxLength: ptr(600)},
			{Name: "b", Type: domain.FieldText, Pattern: `(\w+\s?){1,130}x`, MaxLength: ptr(600)},
		}, "fields[1].pattern"},
		"a select's options bound its values": {[]domain.Field{
			{Name: "a", Type: domain.FieldSelect, Pattern: `(\w+\s?){1,130}x`, Options: []string{"short", "options"}},
		}, ""},
	} {
		_, err := domain.NewForm("ws_x", patternForm(tc.fields...), now)
		got := patternProblem(err)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v %s", name, err, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%s: problem %q (err %v), want one mentioning %q", name, got, err, tc.want)
		}
	}
}

// TestPatternSeesOnlyValuesWithinItsLimit: a value longer than the
// field's limit is refused before its pattern runs, even when the
// value only grows that long in normalisation.
func TestPatternSeesOnlyValuesWithinItsLimit(t *testing.T) {
	t.Parallel()
	f, err := domain.NewForm("ws_x", patternForm(
		domain.Field{Name: "a", Type: domain.FieldText, Pattern: `a+`, MaxLength: ptr(5)},
		domain.Field{Name: "n", Type: domain.FieldNumber, Pattern: `\d+`, MaxLength: ptr(6)},
	), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ field, value, code string }{
		{"a", "aaaaa", ""},
		{"a", "aaaaaa", "too_long"},
		{"n", "1e300", "too_long"}, // 301 digits once canonical
		{"n", "1e5", ""},
	} {
		raw := domain.RawSubmission{Fields: map[string][]string{tc.field: {tc.value}}, Order: []string{tc.field}}
		_, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
		if got := strings.Join(fieldsOf(err), ","); (tc.code == "" && err != nil) || (tc.code != "" && got != tc.field+":"+tc.code) {
			t.Errorf("%s=%q: %v, want %q", tc.field, tc.value, got, tc.code)
		}
	}
}

// BenchmarkAcceptWorstPattern is the most matching work one submission
// can cause: a form at the pattern budget, every value at its field's
// limit and shaped to keep the matcher busy to the end. Compare with the
// issue's attack, which took seconds and is now refused at save.
func BenchmarkAcceptWorstPattern(b *testing.B) {
	f, err := domain.NewForm("ws_x", patternForm(
		domain.Field{Name: "a", Type: domain.FieldText, Pattern: `(\w+\s?){1,130}x`, MaxLength: ptr(1000)},
	), now)
	if err != nil {
		b.Fatal(err)
	}
	raw := domain.RawSubmission{Fields: map[string][]string{"a": {strings.Repeat("a", 1000)}}, Order: []string{"a"}}
	for b.Loop() {
		if _, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now); domain.KindOf(err) != domain.KindInvalid {
			b.Fatalf("Accept = %v, want pattern_mismatch", err)
		}
	}
}
