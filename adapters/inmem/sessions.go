package inmem

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
)

type sessionStore struct{ tx *stores }

// copySession returns s with a token hash of its own, so that neither the
// caller nor the store can change the other's bytes.
func copySession(s domain.Session, expiresAt time.Time, revoked bool) domain.Session {
	return domain.RehydrateSession(s.ID(), s.User(), bytes.Clone(s.TokenHash()), s.CreatedAt(), expiresAt, revoked)
}

func (s sessionStore) Add(ctx context.Context, ses domain.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.tx.s.users[ses.User()]; !ok {
		return fmt.Errorf("add session of %s: no such user", ses.User())
	}
	for _, o := range s.tx.s.sessions {
		if o.ID() == ses.ID() || bytes.Equal(o.TokenHash(), ses.TokenHash()) {
			return fmt.Errorf("add session of %s: duplicate ID or token hash", ses.User())
		}
	}
	s.tx.s.sessions[ses.ID()] = copySession(ses, ses.ExpiresAt(), ses.Revoked())
	return nil
}

func (s sessionStore) GetByTokenHash(ctx context.Context, h []byte) (domain.Session, error) {
	if err := ctx.Err(); err != nil {
		return domain.Session{}, err
	}
	for _, ses := range s.tx.s.sessions {
		if bytes.Equal(ses.TokenHash(), h) {
			return copySession(ses, ses.ExpiresAt(), ses.Revoked()), nil
		}
	}
	return domain.Session{}, domain.ErrNotFound
}

func (s sessionStore) SetExpiry(ctx context.Context, id domain.SessionID, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ses, ok := s.tx.s.sessions[id]
	if !ok {
		return domain.ErrNotFound
	}
	s.tx.s.sessions[id] = copySession(ses, at, ses.Revoked())
	return nil
}

func (s sessionStore) Revoke(ctx context.Context, id domain.SessionID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ses, ok := s.tx.s.sessions[id]
	if !ok {
		return domain.ErrNotFound
	}
	s.tx.s.sessions[id] = copySession(ses, ses.ExpiresAt(), true)
	return nil
}

func (s sessionStore) RevokeUser(ctx context.Context, u domain.UserID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for id, ses := range s.tx.s.sessions {
		if ses.User() == u {
			s.tx.s.sessions[id] = copySession(ses, ses.ExpiresAt(), true)
		}
	}
	return nil
}
