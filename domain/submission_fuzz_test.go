package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// FuzzAccept feeds arbitrary values to every field type: validation must
// answer with a submission or a domain error, never panic, and what it
// accepts must be valid UTF-8 within the field's limits.
func FuzzAccept(f *testing.F) {
	for _, seed := range [][2]string{
		{"email", "Ada@Example.COM"}, {"age", "1e309"}, {"age", "-0"}, {"code", "ABC-1"},
		{"tags", "a"}, {"message", "x\r\ny"}, {"name", "\xff\xfe"}, {"topic", "sales"},
		{"website", "http://spam"}, {"nope", "x"}, {"email", "@"}, {"agree", "on"},
	} {
		f.Add(seed[0], seed[1], "Ada", uint8(1))
	}
	form, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, field, value, name string, copies uint8) {
		raw := domain.RawSubmission{Fields: map[string][]string{"name": {name}, "email": {"a@example.com"}}, Order: []string{"name", "email"}}
		for range copies % 4 {
			raw.Fields[field] = append(raw.Fields[field], value)
		}
		if _, ok := raw.Fields[field]; ok && field != "name" && field != "email" {
			raw.Order = append(raw.Order, field)
		}
		s, err := form.Accept(raw, domain.SubmissionMeta{UserAgent: value}, domain.SpamRules{MaxLinks: 1, MinFillTime: time.Second, TimestampField: "ts"}, now)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid {
				t.Fatalf("Accept error %v is not a validation error", err)
			}
			return
		}
		for _, v := range s.Values() {
			for _, x := range v.Values {
				if !isValidUTF8(x) || strings.TrimSpace(x) != x || x == "" {
					t.Fatalf("accepted %s=%q", v.Field, x)
				}
			}
		}
	})
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "") == s }
