package forms

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchForm = domain.ErrNotFound.WithMessage("No such form.")

// errFormChanged answers an update that lost, several times over, the race
// with other updates of the same form.
var errFormChanged = domain.E(domain.KindConflict, "form_changed", "The form was changed by someone else meanwhile; try again.")

// updateAttempts is how often UpdateForm applies its change to a fresh
// copy when another update got in between.
const updateAttempts = 3

// CreateForm defines a form in a workspace (editors and up). The
// definition is checked, and its templates and patterns compiled, after
// authorization and before the transaction, which only writes the form
// and its audit record: the cost of compiling is the form's author's to
// choose, and a transaction would make every writer on the instance wait
// for it.
func (s *Service) CreateForm(ctx context.Context, p domain.Principal, wsRef string, in domain.FormInput) (_ domain.Form, err error) {
	ctx, end := usecase.Start(ctx, "forms.CreateForm")
	defer end(&err)
	var w domain.Workspace
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		w, err = s.workspace(ctx, st, p, wsRef, domain.PermFormsWrite)
		return err
	})
	if err != nil {
		return domain.Form{}, err
	}
	f, err := domain.NewForm(w.ID(), in, s.now())
	if err != nil {
		return domain.Form{}, err
	}
	// The event is encoded before the transaction: its size is the
	// definition's, which the caller chooses.
	ev := domain.FormEvent(domain.EventFormCreated, f, s.now())
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		// Authorized again: the membership may have ended meanwhile.
		if _, err := s.workspace(ctx, st, p, w.ID().String(), domain.PermFormsWrite); err != nil {
			return err
		}
		if err := st.Forms().Add(ctx, f); err != nil {
			return fmt.Errorf("add form: %w", err)
		}
		if err := addEvent(ctx, st, ev); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "form.created", "form", f.ID().String(), map[string]string{
			"name": f.Name(), "notify.recipients": strings.Join(f.Definition().Notify.Recipients, ", "),
		})
	})
	if err != nil {
		return domain.Form{}, err
	}
	return f, nil
}

// ListForms lists a workspace's forms (viewers and up).
func (s *Service) ListForms(ctx context.Context, p domain.Principal, wsRef string, page ports.Page) (_ []domain.Form, next string, err error) {
	ctx, end := usecase.Start(ctx, "forms.ListForms")
	defer end(&err)
	var fs []domain.Form
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
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
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
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
//
// The form is read, changed and compiled outside any transaction; the
// transaction then checks that the stored form's updated_at is still the
// one read and writes only then. If someone saved it meanwhile, the change
// is applied afresh to their version, a few times at most, and then
// refused as a conflict (form_changed). The update is audited with what
// changed.
func (s *Service) UpdateForm(ctx context.Context, p domain.Principal, wsRef string, id domain.FormID, change func(*domain.FormInput) error) (_ domain.Form, err error) {
	ctx, end := usecase.Start(ctx, "forms.UpdateForm")
	defer end(&err)
	for range updateAttempts {
		var w domain.Workspace
		var old domain.Form
		err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
			if w, err = s.workspace(ctx, st, p, wsRef, domain.PermFormsWrite); err != nil {
				return err
			}
			old, err = getForm(ctx, st, w.ID(), id)
			return err
		})
		if err != nil {
			return domain.Form{}, err
		}
		def := old.Definition()
		if err := change(&def); err != nil {
			return domain.Form{}, err
		}
		f := old
		if err := f.Replace(def, s.now()); err != nil {
			return domain.Form{}, err
		}
		ev := domain.FormEvent(domain.EventFormUpdated, f, s.now())
		raced := false
		err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
			if _, err := s.workspace(ctx, st, p, w.ID().String(), domain.PermFormsWrite); err != nil {
				return err
			}
			at, err := st.Forms().UpdatedAt(ctx, w.ID(), id)
			if err != nil {
				return err
			}
			if raced = !at.Equal(old.UpdatedAt()); raced {
				return nil
			}
			if err := st.Forms().Update(ctx, f); err != nil {
				return err
			}
			if err := addEvent(ctx, st, ev); err != nil {
				return err
			}
			return s.audit(ctx, st, p, w.ID(), "form.updated", "form", id.String(), formChanges(old.Definition(), f.Definition()))
		})
		if err != nil {
			return domain.Form{}, err
		}
		if !raced {
			// Submit would see the change by the form's updated_at, but a
			// clock that has not moved since the form was cached (tests
			// stop it) would hide it: this node forgets the form outright.
			s.formCache.drop(id)
			return f, nil
		}
	}
	return domain.Form{}, errFormChanged
}

// storedFields is fields as stored: without their compiled patterns,
// which two compilations of one pattern need not share.
func storedFields(fs []domain.Field) []domain.Field {
	out := make([]domain.Field, len(fs))
	for i, fd := range fs {
		out[i] = domain.Field{
			Name: fd.Name, Label: fd.Label, Type: fd.Type, Required: fd.Required, MinLength: fd.MinLength,
			MaxLength: fd.MaxLength, Min: fd.Min, Max: fd.Max, Pattern: fd.Pattern, Options: fd.Options,
			MaxFiles: fd.MaxFiles, MaxFileSize: fd.MaxFileSize, Accept: fd.Accept,
		}
	}
	return out
}

// formChanges lists, for the audit record, which parts of a form's
// definition changed ("changed": "fields,notify.recipients"), with the
// recipients before and after when they changed: who hears of the
// submissions is what an audit reader most needs to see. A changed link
// limit has its values too ("" for the instance's), since it decides
// which submissions are held back as spam.
func formChanges(before, after domain.FormInput) map[string]string {
	var changed []string
	for _, part := range []struct {
		name string
		a, b any
	}{
		{"name", before.Name, after.Name},
		{"status", before.Status, after.Status},
		{"fields", storedFields(before.Fields), storedFields(after.Fields)},
		{"notify.recipients", before.Notify.Recipients, after.Notify.Recipients},
		{"notify.subject", before.Notify.Subject, after.Notify.Subject},
		{"notify.attach_files_max_bytes", before.Notify.AttachFilesMaxBytes, after.Notify.AttachFilesMaxBytes},
		{"autoresponder", before.Autoresponder, after.Autoresponder},
		{"redirects", before.Redirects, after.Redirects},
		{"allowed_origins", before.AllowedOrigins, after.AllowedOrigins},
		{"honeypot", before.Honeypot, after.Honeypot},
		{"retention_days", before.RetentionDays, after.RetentionDays},
		{"max_links", before.MaxLinks, after.MaxLinks},
	} {
		if !reflect.DeepEqual(part.a, part.b) {
			changed = append(changed, part.name)
		}
	}
	d := map[string]string{"changed": strings.Join(changed, ",")}
	if slices.Contains(changed, "notify.recipients") {
		d["notify.recipients.before"] = strings.Join(before.Notify.Recipients, ", ")
		d["notify.recipients.after"] = strings.Join(after.Notify.Recipients, ", ")
	}
	// Whether submitted files leave by mail is worth its values too.
	if slices.Contains(changed, "notify.attach_files_max_bytes") {
		d["notify.attach_files_max_bytes.before"] = strconv.FormatInt(before.Notify.AttachFilesMaxBytes, 10)
		d["notify.attach_files_max_bytes.after"] = strconv.FormatInt(after.Notify.AttachFilesMaxBytes, 10)
	}
	if slices.Contains(changed, "max_links") {
		d["max_links.before"], d["max_links.after"] = limitText(before.MaxLinks), limitText(after.MaxLinks)
	}
	return d
}

// limitText is an optional limit in an audit record: "" when unset.
func limitText(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

// DeleteForm deletes a form with its submissions and their queued mail
// (editors and up).
func (s *Service) DeleteForm(ctx context.Context, p domain.Principal, wsRef string, id domain.FormID) (err error) {
	ctx, end := usecase.Start(ctx, "forms.DeleteForm")
	defer end(&err)
	defer s.formCache.drop(id)
	return s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermFormsWrite)
		if err != nil {
			return err
		}
		if !domain.ValidID(domain.PrefixForm, string(id)) {
			return errNoSuchForm
		}
		// The submissions go with the form, and what they held leaves the
		// feed with them.
		if _, err := st.Events().RedactSubmissionsOf(ctx, w.ID(), id); err != nil {
			return fmt.Errorf("redact events of form %s: %w", id, err)
		}
		if err := st.Forms().Delete(ctx, w.ID(), id); err != nil {
			return err
		}
		if err := addEvent(ctx, st, domain.FormDeletedEvent(w.ID(), id, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "form.deleted", "form", string(id), nil)
	})
}
