package content

import (
	"context"
	"unicode/utf8"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errPreviewBody = domain.Invalid(domain.FieldError{Field: "body", Code: "invalid_body", Message: "Use at most 1 MiB of UTF-8 text."})

// PreviewBody renders body as a save would (editors and up), with the
// renderer whose HTML the API serves as body_html, and stores nothing, so
// an editor sees the published result before saving. Like a save, it
// refuses a body the entry rules refuse, and renders only for a caller
// allowed to write here, outside any transaction: the body's cost is its
// author's to choose.
func (s *Service) PreviewBody(ctx context.Context, p domain.Principal, wsRef, body string) (_ domain.Rendered, err error) {
	ctx, end := usecase.Start(ctx, "content.PreviewBody")
	defer end(&err)
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		_, err := s.workspace(ctx, st, p, wsRef, domain.PermContentWrite)
		return err
	})
	if err != nil {
		return domain.Rendered{}, err
	}
	if len(body) > domain.MaxBodyBytes || !utf8.ValidString(body) {
		return domain.Rendered{}, errPreviewBody
	}
	return s.render.Render(body), nil
}
