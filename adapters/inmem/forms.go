package inmem

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type formStore struct{ tx *stores }

// Add stores f; its workspace must exist, as sqlstore's foreign key demands.
func (s formStore) Add(ctx context.Context, f domain.Form) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.tx.s.workspaces[f.Workspace()]; !ok {
		return fmt.Errorf("add form %s: no such workspace %s", f.ID(), f.Workspace())
	}
	if _, dup := s.tx.s.forms[f.ID()]; dup {
		return fmt.Errorf("add form %s: duplicate ID", f.ID())
	}
	s.tx.s.forms[f.ID()] = f
	return nil
}

func (s formStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) (domain.Form, error) {
	if err := ctx.Err(); err != nil {
		return domain.Form{}, err
	}
	f, ok := s.tx.s.forms[id]
	if !ok || f.Workspace() != ws {
		return domain.Form{}, domain.ErrNotFound
	}
	return f, nil
}

func (s formStore) GetPublic(ctx context.Context, id domain.FormID) (domain.Form, error) {
	if err := ctx.Err(); err != nil {
		return domain.Form{}, err
	}
	f, ok := s.tx.s.forms[id]
	if !ok {
		return domain.Form{}, domain.ErrNotFound
	}
	return f, nil
}

func (s formStore) UpdatedAt(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) (time.Time, error) {
	f, err := s.Get(ctx, ws, id)
	return f.UpdatedAt(), err
}

// Update saves the definition and updated_at; the workspace and creation
// time stay those stored, as sqlstore's UPDATE leaves their columns alone.
func (s formStore) Update(ctx context.Context, f domain.Form) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old, ok := s.tx.s.forms[f.ID()]
	if !ok || old.Workspace() != f.Workspace() {
		return domain.ErrNotFound
	}
	nf, err := domain.RehydrateForm(f.ID(), old.Workspace(), f.Definition(), old.CreatedAt(), f.UpdatedAt())
	if err != nil {
		return fmt.Errorf("update form %s: %w", f.ID(), err)
	}
	s.tx.s.forms[f.ID()] = nf
	return nil
}

// Delete removes the form, its submissions and their queued messages, as
// the foreign keys' ON DELETE CASCADE does in sqlstore.
func (s formStore) Delete(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, ok := s.tx.s.forms[id]
	if !ok || f.Workspace() != ws {
		return domain.ErrNotFound
	}
	s.tx.deleteForms(func(f domain.Form) bool { return f.ID() == id })
	return nil
}

func (s formStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.Form, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	var fs []domain.Form
	for f := range maps.Values(s.tx.s.forms) {
		if f.Workspace() == ws {
			fs = append(fs, f)
		}
	}
	return paginate(fs, func(f domain.Form) string { return string(f.ID()) }, domain.PrefixForm, p, false)
}

// WithRetention returns the forms with a retention period, ordered by ID.
func (s formStore) WithRetention(ctx context.Context) ([]domain.Form, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var fs []domain.Form
	for f := range maps.Values(s.tx.s.forms) {
		if f.RetentionDays() > 0 {
			fs = append(fs, f)
		}
	}
	slices.SortFunc(fs, func(a, b domain.Form) int { return strings.Compare(string(a.ID()), string(b.ID())) })
	return fs, nil
}

// deleteForms removes the forms del selects with everything that cascades
// from them.
func (tx *stores) deleteForms(del func(domain.Form) bool) {
	gone := map[domain.FormID]bool{}
	maps.DeleteFunc(tx.s.forms, func(id domain.FormID, f domain.Form) bool {
		if del(f) {
			gone[id] = true
			return true
		}
		return false
	})
	tx.deleteSubmissions(func(s domain.Submission) bool { return gone[s.Form()] })
}

// deleteSubmissions removes the submissions del selects with their queued
// messages, and returns how many submissions it removed.
func (tx *stores) deleteSubmissions(del func(domain.Submission) bool) int {
	gone := map[domain.SubmissionID]bool{}
	maps.DeleteFunc(tx.s.submissions, func(id domain.SubmissionID, s domain.Submission) bool {
		if del(s) {
			gone[id] = true
			return true
		}
		return false
	})
	maps.DeleteFunc(tx.s.outbox, func(_ string, e outboxEntry) bool { return gone[e.m.Submission] })
	return len(gone)
}
