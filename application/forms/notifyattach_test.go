package forms_test

import (
	"context"
	"testing"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestAttachLimitChangeIsAudited: whether a form's notifications carry
// the submitted files is recorded with its values when it changes.
func TestAttachLimitChangeIsAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form, err := f.svc.CreateForm(t.Context(), f.owner, "site", contactInput())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateForm(t.Context(), f.owner, "site", form.ID(), func(in *domain.FormInput) error {
		in.Notify.AttachFilesMaxBytes = 4096
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var events []domain.AuditEvent
	err = f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		events, _, err = st.Audit().List(ctx, f.ws.ID(), ports.Page{Limit: 1})
		return err
	})
	if err != nil || len(events) != 1 {
		t.Fatal(err)
	}
	d := events[0].Details
	if events[0].Action != "form.updated" || d["changed"] != "notify.attach_files_max_bytes" ||
		d["notify.attach_files_max_bytes.before"] != "0" || d["notify.attach_files_max_bytes.after"] != "4096" {
		t.Errorf("the attach limit's change is audited as %s %v", events[0].Action, d)
	}
}
