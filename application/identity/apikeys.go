package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// CreateAPIKeyInput describes a new key.
type CreateAPIKeyInput struct {
	Workspace string
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
}

// CreatedAPIKey is a new key and its secret, which is never shown again.
type CreatedAPIKey struct {
	Key    domain.APIKey
	Secret string
}

// CreateAPIKey makes a key for a workspace (admins and owners, in person).
// The key acts with its scopes, limited by its creator's role at the time
// of each request.
func (s *Service) CreateAPIKey(ctx context.Context, p domain.Principal, in CreateAPIKeyInput) (_ CreatedAPIKey, err error) {
	ctx, end := usecase.Start(ctx, "identity.CreateAPIKey")
	defer end(&err)
	var out CreatedAPIKey
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, in.Workspace, domain.PermAPIKeysWrite)
		if err != nil {
			return err
		}
		if err := requireUser(p); err != nil {
			return err
		}
		k, secret, err := domain.NewAPIKey(domain.NewAPIKeyInput{
			Workspace: w.ID(), Name: in.Name, Scopes: in.Scopes, ExpiresAt: in.ExpiresAt, CreatedBy: p.User(),
		}, s.now())
		if err != nil {
			return err
		}
		if err := st.APIKeys().Add(ctx, k); err != nil {
			return fmt.Errorf("add key: %w", err)
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		out = CreatedAPIKey{Key: k, Secret: secret}
		if err := addEvent(ctx, st, domain.APIKeyEvent(domain.EventAPIKeyCreated, k, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "api_key.created", "api_key", string(k.ID()), map[string]string{"name": k.Name(), "scopes": scopeList(k.Scopes())})
	})
	if err != nil {
		return CreatedAPIKey{}, err
	}
	s.reload(ctx)
	return out, nil
}

func scopeList(ps []domain.Permission) string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.String()
	}
	return strings.Join(ss, " ")
}

// ListAPIKeys lists a workspace's keys, revoked ones included, without
// their secrets (admins and owners).
func (s *Service) ListAPIKeys(ctx context.Context, p domain.Principal, ref string, page ports.Page) (_ []domain.APIKey, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ListAPIKeys")
	defer end(&err)
	var keys []domain.APIKey
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermAPIKeysRead)
		if err != nil {
			return err
		}
		keys, next, err = st.APIKeys().List(ctx, w.ID(), page)
		return err
	})
	return keys, next, err
}

// UpdateAPIKeyInput renames a key or narrows its scopes; nil keeps each.
type UpdateAPIKeyInput struct {
	Workspace string
	ID        domain.APIKeyID
	Name      *string
	Scopes    []string
}

// UpdateAPIKey renames a key and narrows its scopes (admins and owners, in
// person, as for creation). Narrowing takes effect at once on this node
// and within a second on every other, as a revocation does; a scope the
// key does not hold is refused, since widening would grant a program more
// than its creator chose when the secret was shown.
func (s *Service) UpdateAPIKey(ctx context.Context, p domain.Principal, in UpdateAPIKeyInput) (_ domain.APIKey, err error) {
	ctx, end := usecase.Start(ctx, "identity.UpdateAPIKey")
	defer end(&err)
	var k domain.APIKey
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		w, err := s.workspace(ctx, st, p, in.Workspace, domain.PermAPIKeysWrite)
		if err != nil {
			return err
		}
		if err := requireUser(p); err != nil {
			return err
		}
		if k, err = st.APIKeys().Get(ctx, w.ID(), in.ID); err != nil {
			return err
		}
		before := k
		if err := k.Update(in.Name, in.Scopes); err != nil {
			return err
		}
		if err := st.APIKeys().Update(ctx, k); err != nil {
			return fmt.Errorf("update key: %w", err)
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		if err := addEvent(ctx, st, domain.APIKeyEvent(domain.EventAPIKeyUpdated, k, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "api_key.updated", "api_key", string(k.ID()), map[string]string{
			"name": k.Name(), "scopes": scopeList(k.Scopes()), "previous_name": before.Name(), "previous_scopes": scopeList(before.Scopes()),
		})
	})
	if err != nil {
		return domain.APIKey{}, err
	}
	// A verified key is cached with its scopes: forget it so that the
	// narrower scopes apply from the next request.
	s.creds.forgetWhere(func(c domain.Principal) bool { return c.APIKey() == k.ID() })
	s.reload(ctx)
	return k, nil
}

// RotateAPIKeyInput names the key to rotate; GracePeriod is how long its
// current secret keeps working, a Go duration, nil for 24 hours.
type RotateAPIKeyInput struct {
	Workspace   string
	ID          domain.APIKeyID
	GracePeriod *string
}

// RotateAPIKey gives a key a new secret, shown this once, and keeps the
// current one working for the grace period, so that a program's
// deployments can switch without an outage (admins and owners, in person,
// as for creation). The replaced secret stops at the end of the grace
// period on every node: a cached verification never outlives it.
func (s *Service) RotateAPIKey(ctx context.Context, p domain.Principal, in RotateAPIKeyInput) (_ CreatedAPIKey, err error) {
	ctx, end := usecase.Start(ctx, "identity.RotateAPIKey")
	defer end(&err)
	var out CreatedAPIKey
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, in.Workspace, domain.PermAPIKeysWrite)
		if err != nil {
			return err
		}
		if err := requireUser(p); err != nil {
			return err
		}
		grace, err := domain.ParseAPIKeyGrace(in.GracePeriod)
		if err != nil {
			return err
		}
		k, err := st.APIKeys().Get(ctx, w.ID(), in.ID)
		if err != nil {
			return err
		}
		secret, err := k.Rotate(grace, s.now())
		if err != nil {
			return err
		}
		if err := st.APIKeys().Update(ctx, k); err != nil {
			return fmt.Errorf("rotate key: %w", err)
		}
		out = CreatedAPIKey{Key: k, Secret: secret}
		until := "now"
		if u := k.PreviousUntil(); u != nil {
			until = domain.Stamp{Time: *u}.String()
		}
		if err := credentialsChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "api_key.rotated", "api_key", string(k.ID()), map[string]string{"name": k.Name(), "previous_until": until})
	})
	if err != nil {
		return CreatedAPIKey{}, err
	}
	// A grace period of 0 ends the old secret at once, here as well.
	s.creds.forgetWhere(func(c domain.Principal) bool { return c.APIKey() == in.ID })
	return out, nil
}

// RevokeAPIKey revokes a key at once on this node and within a second on
// every other (admins and owners).
func (s *Service) RevokeAPIKey(ctx context.Context, p domain.Principal, ref string, id domain.APIKeyID) (err error) {
	ctx, end := usecase.Start(ctx, "identity.RevokeAPIKey")
	defer end(&err)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermAPIKeysWrite)
		if err != nil {
			return err
		}
		k, err := st.APIKeys().Get(ctx, w.ID(), id)
		if err != nil {
			return err
		}
		if k.Revoked() {
			return nil
		}
		k.Revoke(s.now())
		if err := st.APIKeys().Revoke(ctx, k); err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		if err := addEvent(ctx, st, domain.APIKeyEvent(domain.EventAPIKeyRevoked, k, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "api_key.revoked", "api_key", string(k.ID()), map[string]string{"name": k.Name()})
	})
	if err != nil {
		return err
	}
	s.creds.forgetWhere(func(c domain.Principal) bool { return c.APIKey() == id })
	s.reload(ctx)
	return nil
}

// CurrentAPIKey is the key a request authenticated with and its workspace.
type CurrentAPIKey struct {
	Key       domain.APIKey
	Workspace domain.Workspace
}

// errNotAnAPIKey answers a person asking which key they are: the question
// has an answer only for a key, and a person's account is at /v1/me.
var errNotAnAPIKey = domain.E(domain.KindForbidden, "not_an_api_key", "Only an API key can ask which key it is; people see their account at /v1/me.")

// CurrentAPIKey lets a key see what it is (its name, scopes, workspace and
// expiry), whatever its scopes: a program should learn what it may do
// without trying. A person gets 403 not_an_api_key, anyone else 401.
func (s *Service) CurrentAPIKey(ctx context.Context, p domain.Principal) (_ CurrentAPIKey, err error) {
	ctx, end := usecase.Start(ctx, "identity.CurrentAPIKey")
	defer end(&err)
	switch p.Kind() {
	case domain.APIKeyPrincipal:
	case domain.UserPrincipal:
		return CurrentAPIKey{}, errNotAnAPIKey
	default:
		return CurrentAPIKey{}, domain.ErrUnauthenticated
	}
	var out CurrentAPIKey
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if out.Key, err = st.APIKeys().Get(ctx, p.KeyWorkspace(), p.APIKey()); err != nil {
			return fmt.Errorf("load key %s: %w", p.APIKey(), err)
		}
		if out.Workspace, err = st.Workspaces().Get(ctx, p.KeyWorkspace()); err != nil {
			return fmt.Errorf("load workspace %s: %w", p.KeyWorkspace(), err)
		}
		return nil
	})
	return out, err
}

// ListAuditEvents lists a workspace's audit log, newest first (admins and
// owners).
func (s *Service) ListAuditEvents(ctx context.Context, p domain.Principal, ref string, page ports.Page) (_ []domain.AuditEvent, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ListAuditEvents")
	defer end(&err)
	var events []domain.AuditEvent
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermAuditRead)
		if err != nil {
			return err
		}
		events, next, err = st.Audit().List(ctx, w.ID(), page)
		return err
	})
	return events, next, err
}

// ListInstanceAuditEvents lists the events that belong to no workspace
// (setup, logins and logouts, users created or disabled), newest first;
// instance administrators only.
func (s *Service) ListInstanceAuditEvents(ctx context.Context, p domain.Principal, page ports.Page) (_ []domain.AuditEvent, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ListInstanceAuditEvents")
	defer end(&err)
	if err := requireInstanceAdmin(p); err != nil {
		return nil, "", err
	}
	var events []domain.AuditEvent
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		events, next, err = st.Audit().List(ctx, "", page)
		return err
	})
	return events, next, err
}

// addEvent writes e to the workspace's change feed in the caller's
// transaction.
func addEvent(ctx context.Context, st ports.Stores, e domain.Event) error {
	if err := st.Events().Add(ctx, e); err != nil {
		return fmt.Errorf("add event %s: %w", e.Type, err)
	}
	return nil
}
