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

type submissionStore struct{ tx *stores }

// copySubmission gives s values of its own, down to each field's slice.
func copySubmission(s domain.Submission) domain.Submission {
	vs := s.Values()
	for i := range vs {
		vs[i].Values = slices.Clone(vs[i].Values)
	}
	return domain.RehydrateSubmission(s.ID(), s.Form(), s.Workspace(), vs, s.Status(), s.Meta(), s.CreatedAt(), s.UpdatedAt())
}

// searchText is what the Query filter searches, as sqlstore's search_text
// column holds it: every value, lower-cased, one after the other with a
// unit separator between them, so that no query matches across two values.
func searchText(s domain.Submission) string {
	var b strings.Builder
	for _, v := range s.Values() {
		for _, x := range v.Values {
			b.WriteString(strings.ToLower(x))
			b.WriteByte(0x1f)
		}
	}
	return b.String()
}

// Add stores s; its form must exist, as sqlstore's foreign key demands.
func (s submissionStore) Add(ctx context.Context, sub domain.Submission) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.tx.s.forms[sub.Form()]; !ok {
		return fmt.Errorf("add submission %s: no such form %s", sub.ID(), sub.Form())
	}
	if _, dup := s.tx.s.submissions[sub.ID()]; dup {
		return fmt.Errorf("add submission %s: duplicate ID", sub.ID())
	}
	s.tx.s.submissions[sub.ID()] = copySubmission(sub)
	return nil
}

func (s submissionStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.SubmissionID) (domain.Submission, error) {
	if err := ctx.Err(); err != nil {
		return domain.Submission{}, err
	}
	sub, ok := s.tx.s.submissions[id]
	if !ok || sub.Workspace() != ws {
		return domain.Submission{}, domain.ErrNotFound
	}
	return copySubmission(sub), nil
}

// Update saves status and updated_at only.
func (s submissionStore) Update(ctx context.Context, sub domain.Submission) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old, ok := s.tx.s.submissions[sub.ID()]
	if !ok || old.Workspace() != sub.Workspace() {
		return domain.ErrNotFound
	}
	s.tx.s.submissions[sub.ID()] = domain.RehydrateSubmission(old.ID(), old.Form(), old.Workspace(), old.Values(),
		sub.Status(), old.Meta(), old.CreatedAt(), sub.UpdatedAt())
	return nil
}

func (s submissionStore) Delete(ctx context.Context, ws domain.WorkspaceID, id domain.SubmissionID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sub, ok := s.tx.s.submissions[id]
	if !ok || sub.Workspace() != ws {
		return domain.ErrNotFound
	}
	s.tx.deleteSubmissions(func(o domain.Submission) bool { return o.ID() == id })
	return nil
}

func (s submissionStore) List(ctx context.Context, ws domain.WorkspaceID, form domain.FormID, f ports.SubmissionFilter, p ports.Page) ([]domain.Submission, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	q := strings.ToLower(f.Query)
	since, until := domain.Timestamp(f.Since), domain.Timestamp(f.Until)
	var subs []domain.Submission
	for sub := range maps.Values(s.tx.s.submissions) {
		switch {
		case sub.Workspace() != ws || sub.Form() != form,
			f.Status != nil && sub.Status() != *f.Status,
			!f.Since.IsZero() && sub.CreatedAt().Before(since),
			!f.Until.IsZero() && !sub.CreatedAt().Before(until),
			q != "" && !strings.Contains(searchText(sub), q):
			continue
		}
		subs = append(subs, copySubmission(sub))
	}
	page, next, err := paginate(subs, func(s domain.Submission) string { return string(s.ID()) }, domain.PrefixSubmission, p, true)
	if err != nil {
		return nil, "", err
	}
	page, next = fitBytes(page, next, ports.SubmissionBytes, func(s domain.Submission) string { return string(s.ID()) })
	return page, next, nil
}

// DeleteMatching deletes the submissions of ws holding a value equal to
// email, ignoring case, with their queued messages.
func (s submissionStore) DeleteMatching(ctx context.Context, ws domain.WorkspaceID, email domain.Email) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.tx.deleteSubmissions(func(sub domain.Submission) bool {
		return sub.Workspace() == ws && holdsValue(sub.Values(), email.String())
	}), nil
}

// holdsValue reports whether any value equals v, ignoring case.
func holdsValue(vs []domain.Value, v string) bool {
	for _, fv := range vs {
		if slices.ContainsFunc(fv.Values, func(x string) bool { return strings.EqualFold(x, v) }) {
			return true
		}
	}
	return false
}

// DeleteOlderThan deletes the oldest of a form's submissions created
// before t, at most limit of them, with their queued messages. Like every
// bound, t counts in whole microseconds, as the databases store times.
func (s submissionStore) DeleteOlderThan(ctx context.Context, form domain.FormID, t time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t = domain.Timestamp(t)
	var old []domain.Submission
	for sub := range maps.Values(s.tx.s.submissions) {
		if sub.Form() == form && sub.CreatedAt().Before(t) {
			old = append(old, sub)
		}
	}
	slices.SortFunc(old, func(a, b domain.Submission) int {
		if c := a.CreatedAt().Compare(b.CreatedAt()); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID()), string(b.ID()))
	})
	old = old[:min(len(old), max(limit, 0))]
	gone := map[domain.SubmissionID]bool{}
	for _, sub := range old {
		gone[sub.ID()] = true
	}
	return s.tx.deleteSubmissions(func(sub domain.Submission) bool { return gone[sub.ID()] }), nil
}
