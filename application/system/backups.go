package system

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// backupListLimit bounds the runs ListBackups returns: the newest ones,
// which cover the KEEL_BACKUP_KEEP backups kept and what became of the
// attempts between them.
const backupListLimit = 100

// Option configures NewService.
type Option func(*Service)

// WithBackupLog lets ListBackups read the scheduled backups' record.
func WithBackupLog(l ports.BackupLog) Option {
	return func(s *Service) { s.backups = l }
}

// ListBackups returns the newest scheduled backups, newest first, to an
// instance administrator: a person, since backups hold every workspace's
// data and API keys belong to one workspace. Without a backup log it
// returns none.
func (s *Service) ListBackups(ctx context.Context, p domain.Principal) (_ []ports.BackupRun, err error) {
	ctx, end := usecase.Start(ctx, "system.ListBackups")
	defer end(&err)
	switch {
	case p.IsAnonymous():
		return nil, domain.ErrUnauthenticated
	case p.IsAPIKey():
		return nil, domain.ErrForbidden.WithMessage("Only people can do this, not API keys.")
	case !p.IsInstanceAdmin():
		return nil, domain.ErrForbidden.WithMessage("Only instance administrators can do this.")
	}
	if s.backups == nil {
		return []ports.BackupRun{}, nil
	}
	return s.backups.BackupRuns(ctx, backupListLimit)
}

// KindBackupFailed is the outbox kind of the mail that tells instance
// administrators a scheduled backup failed.
const KindBackupFailed = "backup_failed"

// maxAdminScan bounds the users NotifyBackupFailed reads looking for
// instance administrators.
const maxAdminScan = 10_000

// NotifyBackupFailed queues, in one transaction, a message from from to
// every active instance administrator saying that the scheduled backup run
// failed and why, and returns how many it queued. The dispatcher sends
// them like any other mail, retrying a relay that is away.
func (s *Service) NotifyBackupFailed(ctx context.Context, from string, run ports.BackupRun) (queued int, err error) {
	ctx, end := usecase.Start(ctx, "system.NotifyBackupFailed")
	defer end(&err)
	now := s.clock.Now()
	subject := "Keel: the scheduled backup of " + run.ScheduledAt.UTC().Format("2006-01-02 15:04 UTC") + " failed"
	text := fmt.Sprintf("The scheduled backup of %s failed after %d attempts on node %s.\n\nLast error: %s\n\n"+
		"Earlier backups are unaffected. GET /v1/admin/backups lists the recent runs; keel backup --out FILE takes one by hand.\n",
		run.ScheduledAt.UTC().Format(time.RFC3339), run.Attempts, run.Node, run.Error)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		queued = 0
		page := ports.Page{Limit: ports.MaxPageLimit}
		for scanned := 0; scanned < maxAdminScan; {
			users, next, err := st.Users().List(ctx, page)
			if err != nil {
				return err
			}
			scanned += len(users)
			for _, u := range users {
				if !u.IsInstanceAdmin() || u.Status() != domain.UserActive {
					continue
				}
				m, err := domain.NewMessage(domain.MessageInput{From: from, To: []string{u.Email().String()}, Subject: subject, Text: text}, now)
				if err != nil {
					return fmt.Errorf("compose backup failure mail: %w", err)
				}
				if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, "", "", KindBackupFailed, "", now)); err != nil {
					return err
				}
				queued++
			}
			if next == "" {
				break
			}
			page.After = next
		}
		return nil
	})
	return queued, err
}
