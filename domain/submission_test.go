package domain_test

import (
	"slices"
	"testing"

	"github.com/keelhq/keel/domain"
)

// TestAcceptMarksMultiselectsAsLists checks that a multiselect's value is a
// list however many options were chosen, and no other field's is, so that
// readers need not know the form to show one shape per field.
func TestAcceptMarksMultiselectsAsLists(t *testing.T) {
	t.Parallel()
	f, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tags := range [][]string{{"b"}, {"a", "c"}} {
		raw := domain.RawSubmission{
			Fields: map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}, "topic": {"sales"}, "tags": tags},
			Order:  []string{"name", "email", "topic", "tags"},
		}
		s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
		if err != nil {
			t.Fatalf("Accept(tags=%q): %v", tags, err)
		}
		for _, v := range s.Values() {
			wantList := v.Field == "tags"
			if v.List != wantList || v.IsList() != wantList {
				t.Errorf("tags=%q: %s: List = %v, IsList() = %v, want %v", tags, v.Field, v.List, v.IsList(), wantList)
			}
			if wantList && !slices.Equal(v.Values, tags) {
				t.Errorf("tags=%q: Values = %q", tags, v.Values)
			}
		}
	}
}

// TestValueIsList covers values stored before List existed: several
// values still read as a list, one value as a single value.
func TestValueIsList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    domain.Value
		want bool
	}{
		{domain.Value{Field: "tags", Values: []string{"a"}, List: true}, true},
		{domain.Value{Field: "tags", Values: []string{"a", "b"}}, true},
		{domain.Value{Field: "name", Values: []string{"Ada"}}, false},
		{domain.Value{Field: "tags", List: true}, true},
	} {
		if got := tc.v.IsList(); got != tc.want {
			t.Errorf("%+v.IsList() = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestAcceptStripsControlCharacters: C0 controls but tab and line breaks,
// DEL and C1 controls are removed before validation, NUL included; line
// breaks become LF in a textarea and a space elsewhere.
func TestAcceptStripsControlCharacters(t *testing.T) {
	t.Parallel()
	f, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		t.Fatal(err)
	}
	raw := domain.RawSubmission{
		Fields: map[string][]string{
			"name":    {"A\x00d\x1ba\x1c\x7f\u0085\u009f\tL"},
			"email":   {"ada\x00@example.com"},
			"message": {"one\r\ntwo\rthree\x00\nfour\u00e9\u200b"},
		},
		Order: []string{"name", "email", "message"},
	}
	s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	for field, want := range map[string]string{
		"name":    "Ada\tL",
		"email":   "ada@example.com",
		"message": "one\ntwo\nthree\nfour\u00e9\u200b",
	} {
		if got := s.Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	raw = domain.RawSubmission{Fields: map[string][]string{"name": {"\x00\x1b"}, "email": {"ada@example.com"}}, Order: []string{"name", "email"}}
	if _, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now); !slices.Contains(fieldsOf(err), "name:required") {
		t.Errorf("a required value of control characters only = %v, want name:required", err)
	}
}

// TestMultiselectCountsAnOptionOnce: an option sent twice is kept once, so
// that a multiselect's pattern sees each option at most once, as the
// form's pattern budget assumes.
func TestMultiselectCountsAnOptionOnce(t *testing.T) {
	t.Parallel()
	f, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		t.Fatal(err)
	}
	raw := domain.RawSubmission{
		Fields: map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}, "tags": {"a", "b", "a", "a"}},
		Order:  []string{"name", "email", "tags"},
	}
	s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range s.Values() {
		if v.Field == "tags" && !slices.Equal(v.Values, []string{"a", "b"}) {
			t.Fatalf("tags = %q, want [a b]", v.Values)
		}
	}
}
