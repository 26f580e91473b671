package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// AuditEntry is an audit event with its actor and target named as a
// person reads them, for the console's audit log. The API keeps serving
// the bare events, whose IDs a program can follow.
type AuditEntry struct {
	domain.AuditEvent
	// Actor names who acted: a user's name and e-mail address, an API
	// key's name, or "" for an anonymous actor or one no longer found.
	Actor Party
	// Target names the user or API key the event is about, when it is
	// one; otherwise it is empty and the event's TargetKind and TargetID
	// say what it is about.
	Target Party
}

// Party is a user or an API key as an audit log shows it.
type Party struct {
	Name  string // a user's name or an API key's name
	Email string // a user's address; empty for a key
}

// AuditLog lists a workspace's audit events, newest first, like
// ListAuditEvents, and names the users and API keys they mention. Admins
// and owners only, as for ListAuditEvents. The names are read in the same
// read-only transaction as the events: one lookup per distinct user or
// key on the page, which a page of at most ports.MaxPageLimit events
// bounds.
func (s *Service) AuditLog(ctx context.Context, p domain.Principal, ref string, page ports.Page) (_ []AuditEntry, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.AuditLog")
	defer end(&err)
	var out []AuditEntry
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermAuditRead)
		if err != nil {
			return err
		}
		events, n, err := st.Audit().List(ctx, w.ID(), page)
		if err != nil {
			return err
		}
		next = n
		out, err = nameParties(ctx, st, w.ID(), events)
		return err
	})
	return out, next, err
}

// InstanceAuditLog lists the instance's own audit events (setup, logins,
// users), newest first, like ListInstanceAuditEvents, and names the users
// they mention; instance administrators only.
func (s *Service) InstanceAuditLog(ctx context.Context, p domain.Principal, page ports.Page) (_ []AuditEntry, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.InstanceAuditLog")
	defer end(&err)
	if err := requireInstanceAdmin(p); err != nil {
		return nil, "", err
	}
	var out []AuditEntry
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		events, n, err := st.Audit().List(ctx, "", page)
		if err != nil {
			return err
		}
		next = n
		out, err = nameParties(ctx, st, "", events)
		return err
	})
	return out, next, err
}

// nameParties looks up the users and, in a workspace, the API keys that
// events name as actor or target, each once. A user or key that is no
// longer found (a key of a deleted workspace) stays unnamed: the log
// still shows its ID.
func nameParties(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, events []domain.AuditEvent) ([]AuditEntry, error) {
	known := map[string]Party{}
	name := func(kind, id string) (Party, error) {
		if id == "" || (kind != "user" && (kind != "api_key" || ws == "")) {
			return Party{}, nil
		}
		if pt, ok := known[kind+":"+id]; ok {
			return pt, nil
		}
		var pt Party
		switch kind {
		case "user":
			u, err := st.Users().Get(ctx, domain.UserID(id))
			if err != nil && !errors.Is(err, domain.ErrNotFound) {
				return Party{}, fmt.Errorf("load user %s: %w", id, err)
			}
			if err == nil {
				pt = Party{Name: u.Name(), Email: u.Email().String()}
			}
		case "api_key":
			k, err := st.APIKeys().Get(ctx, ws, domain.APIKeyID(id))
			if err != nil && !errors.Is(err, domain.ErrNotFound) {
				return Party{}, fmt.Errorf("load API key %s: %w", id, err)
			}
			if err == nil {
				pt = Party{Name: k.Name()}
			}
		}
		known[kind+":"+id] = pt
		return pt, nil
	}
	out := make([]AuditEntry, 0, len(events))
	for _, e := range events {
		actor, err := name(e.ActorKind, e.ActorID)
		if err != nil {
			return nil, err
		}
		target, err := name(e.TargetKind, e.TargetID)
		if err != nil {
			return nil, err
		}
		out = append(out, AuditEntry{AuditEvent: e, Actor: actor, Target: target})
	}
	return out, nil
}
