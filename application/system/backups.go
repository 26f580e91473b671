package system

import (
	"context"

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
