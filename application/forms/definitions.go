package forms

import (
	"context"
	"fmt"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchForm = domain.ErrNotFound.WithMessage("No such form.")

// CreateForm defines a form in a workspace (editors and up).
func (s *Service) CreateForm(ctx context.Context, p domain.Principal, wsRef string, in domain.FormInput) (_ domain.Form, err error) {
	ctx, end := usecase.Start(ctx, "forms.CreateForm")
	defer end(&err)
	var f domain.Form
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermFormsWrite)
		if err != nil {
			return err
		}
		if f, err = domain.NewForm(w.ID(), in, s.now()); err != nil {
			return err
		}
		if err := st.Forms().Add(ctx, f); err != nil {
			return fmt.Errorf("add form: %w", err)
		}
		return nil
	})
	return f, err
}

// ListForms lists a workspace's forms (viewers and up).
func (s *Service) ListForms(ctx context.Context, p domain.Principal, wsRef string, page ports.Page) (_ []domain.Form, next string, err error) {
	ctx, end := usecase.Start(ctx, "forms.ListForms")
	defer end(&err)
	var fs []domain.Form
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermFormsRead)
		if err != nil {
			return err
		}
		fs, next, err = st.Forms().List(ctx, w.ID(), page)
		return err
	})
	return fs, next, err
}

// GetForm returns one form (viewers and up).
func (s *Service) GetForm(ctx context.Context, p domain.Principal, wsRef string, id domain.FormID) (_ domain.Form, err error) {
	ctx, end := usecase.Start(ctx, "forms.GetForm")
	defer end(&err)
	var f domain.Form
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermFormsRead)
		if err != nil {
			return err
		}
		f, err = getForm(ctx, st, w.ID(), id)
		return err
	})
	return f, err
}

func getForm(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, id domain.FormID) (domain.Form, error) {
	if !domain.ValidID(domain.PrefixForm, string(id)) {
		return domain.Form{}, errNoSuchForm
	}
	return st.Forms().Get(ctx, ws, id)
}

// UpdateForm changes a form's definition (editors and up). change gets the
// current definition and edits it in place: PATCH semantics live in the
// HTTP adapter, the rules in domain.Form.Replace.
func (s *Service) UpdateForm(ctx context.Context, p domain.Principal, wsRef string, id domain.FormID, change func(*domain.FormInput) error) (_ domain.Form, err error) {
	ctx, end := usecase.Start(ctx, "forms.UpdateForm")
	defer end(&err)
	var f domain.Form
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermFormsWrite)
		if err != nil {
			return err
		}
		if f, err = getForm(ctx, st, w.ID(), id); err != nil {
			return err
		}
		def := f.Definition()
		if err := change(&def); err != nil {
			return err
		}
		if err := f.Replace(def, s.now()); err != nil {
			return err
		}
		return st.Forms().Update(ctx, f)
	})
	return f, err
}

// DeleteForm deletes a form with its submissions and their queued mail
// (editors and up).
func (s *Service) DeleteForm(ctx context.Context, p domain.Principal, wsRef string, id domain.FormID) (err error) {
	ctx, end := usecase.Start(ctx, "forms.DeleteForm")
	defer end(&err)
	return s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermFormsWrite)
		if err != nil {
			return err
		}
		if _, err := getForm(ctx, st, w.ID(), id); err != nil {
			return err
		}
		if err := st.Forms().Delete(ctx, w.ID(), id); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "form.deleted", "form", string(id), nil)
	})
}
