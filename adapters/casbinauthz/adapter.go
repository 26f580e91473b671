package casbinauthz

import (
	"context"
	"errors"
	"fmt"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"

	"github.com/keelhq/keel/ports"
)

// errReadOnly is what every write through Casbin's API returns: the policy
// is derived from memberships and API keys, which only Keel's use cases
// change, so that the audit log and the policies counter see every change.
var errReadOnly = errors.New("casbinauthz: the policy is read-only here; change memberships and API keys through Keel's use cases")

// adapter is the persist.Adapter that loads the policy from a
// ports.PolicyStore. A new one serves each load: it carries the context of
// the Reload or poll that asked for it, since persist.Adapter's methods take
// none, and it records the policies counter it read along with the rules.
type adapter struct {
	ctx     context.Context
	uow     ports.UnitOfWork
	counter int64 // the policies counter the loaded rules are at least as new as
}

var _ persist.Adapter = (*adapter)(nil)

// LoadPolicy adds every rule of the policy store to m. It reads through
// ReadOnly, so a reload never queues behind SQLite's writers, and there
// each statement sees the latest commit, as PostgreSQL's READ COMMITTED
// transactions did before. The counter is read before the rules: a change
// committed between the reads then makes the counter look old, which
// costs one extra reload, never a missed one.
func (a *adapter) LoadPolicy(m model.Model) error {
	var (
		n     int64
		rules []ports.PolicyRule
	)
	err := a.uow.ReadOnly(a.ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if n, err = st.Instance().Counter(ctx, ports.PolicyCounter); err != nil {
			return fmt.Errorf("read %s counter: %w", ports.PolicyCounter, err)
		}
		if rules, err = st.Policies().Rules(ctx); err != nil {
			return fmt.Errorf("read policy rules: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Only now, after every read succeeded, touch m: a failed load leaves
	// it empty rather than half filled.
	for _, r := range rules {
		if err := addRule(m, r); err != nil {
			return err
		}
	}
	a.counter = n
	return nil
}

// addRule adds one stored rule to m; a rule of an unknown type is an error
// rather than silently ignored, since ignoring it could deny or allow
// something its writer did not mean.
func addRule(m model.Model, r ports.PolicyRule) error {
	var line []string
	switch r.Type {
	case "p":
		line = []string{"p", r.V0, r.V1, r.V2, r.V3}
	case "g":
		line = []string{"g", r.V0, r.V1, r.V2}
	default:
		return fmt.Errorf("policy rule %+v: unknown type %q", r, r.Type)
	}
	if err := persist.LoadPolicyArray(line, m); err != nil {
		return fmt.Errorf("policy rule %+v: %w", r, err)
	}
	return nil
}

// SavePolicy refuses: see errReadOnly.
func (a *adapter) SavePolicy(model.Model) error { return errReadOnly }

// AddPolicy refuses: see errReadOnly.
func (a *adapter) AddPolicy(string, string, []string) error { return errReadOnly }

// RemovePolicy refuses: see errReadOnly.
func (a *adapter) RemovePolicy(string, string, []string) error { return errReadOnly }

// RemoveFilteredPolicy refuses: see errReadOnly.
func (a *adapter) RemoveFilteredPolicy(string, string, int, ...string) error { return errReadOnly }
