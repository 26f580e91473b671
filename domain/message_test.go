package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

func TestNewMessage(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	valid := domain.MessageInput{From: "Keel <noreply@example.com>", To: []string{"a@example.com"}, Subject: "Hi", Text: "Body"}

	m, err := domain.NewMessage(valid, now)
	if err != nil {
		t.Fatalf("NewMessage(valid): %v", err)
	}
	if m.From().Address != "noreply@example.com" || m.From().Name != "Keel" || len(m.To()) != 1 || !domain.ValidID("msg", m.ID()) {
		t.Fatalf("unexpected message: %+v", m)
	}

	tests := []struct {
		name   string
		mutate func(*domain.MessageInput)
		field  string
	}{
		{"no recipient", func(in *domain.MessageInput) { in.To = nil }, "to"},
		{"bad recipient", func(in *domain.MessageInput) { in.To = []string{"not an address"} }, "to"},
		{"bad sender", func(in *domain.MessageInput) { in.From = "@" }, "from"},
		{"header injection", func(in *domain.MessageInput) { in.Subject = "Hi\r\nBcc: victim@example.com" }, "subject"},
		{"no body", func(in *domain.MessageInput) { in.Text, in.HTML = " ", "" }, "body"},
		{"bad reply-to", func(in *domain.MessageInput) { in.ReplyTo = "nope" }, "reply_to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid
			tt.mutate(&in)
			_, err := domain.NewMessage(in, now)
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid {
				t.Fatalf("err = %v, want invalid", err)
			}
			if len(de.Fields) != 1 || de.Fields[0].Field != tt.field {
				t.Fatalf("fields = %+v, want one for %q", de.Fields, tt.field)
			}
		})
	}
}
