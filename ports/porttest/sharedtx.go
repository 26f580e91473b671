package porttest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// sharedTx checks ports.SharedUnitOfWork where the UnitOfWork offers it:
// concurrent calls that may share transactions each get what they would
// alone. A call that fails after adding its rows returns its own error and
// stores none of them, one whose insert breaks a constraint fails, and
// every other call's submission commits with its messages.
func sharedTx(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("CallsSucceedAndFailAlone", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		shared, ok := uow.(ports.SharedUnitOfWork)
		if !ok {
			t.Skip("the UnitOfWork does not share transactions")
		}
		ws := addWorkspace(t, uow, "shared")
		f := addForm(t, uow, ws.ID(), fullForm())
		existing := addSubmission(t, uow, accept(t, f, t0, "email", "ada@example.com", "agree", "on"))
		refused := domain.E(domain.KindConflict, "test_refused", "Refused.")
		const calls = 24
		subs, errs := make([]domain.Submission, calls), make([]error, calls)
		var wg sync.WaitGroup
		for i := range calls {
			subs[i] = accept(t, f, t0, "email", "ada@example.com", "agree", "on")
			if i == 5 {
				subs[i] = existing // its ID again: its insert fails
			}
			wg.Go(func() {
				errs[i] = shared.WithinSharedTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
					if _, err := st.Forms().UpdatedAt(ctx, ws.ID(), f.ID()); err != nil {
						return err
					}
					if err := st.Submissions().Add(ctx, subs[i]); err != nil {
						return err
					}
					msgs, kinds, err := f.Mail(subs[i], "noreply@keel.test", t0)
					if err != nil {
						return err
					}
					for j, m := range msgs {
						if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, ws.ID(), subs[i].ID(), kinds[j], "", t0)); err != nil {
							return err
						}
					}
					if i%4 == 3 {
						return refused
					}
					return nil
				})
			})
		}
		wg.Wait()
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for i, err := range errs {
				_, getErr := st.Submissions().Get(ctx, ws.ID(), subs[i].ID())
				switch {
				case i == 5:
					if err == nil {
						t.Errorf("call %d added a submission twice and returned nil", i)
					}
				case i%4 == 3:
					if !errors.Is(err, refused) {
						t.Errorf("call %d: err = %v, want its own error", i, err)
					}
					if !errors.Is(getErr, domain.ErrNotFound) {
						t.Errorf("call %d failed but its submission reads back (err %v)", i, getErr)
					}
				default:
					if err != nil {
						t.Errorf("call %d: %v", i, err)
					}
					if getErr != nil {
						t.Errorf("call %d succeeded but its submission: %v", i, getErr)
					}
				}
			}
			return nil
		})
	})
}
