// Package forms holds the use cases of forms and their submissions: the
// form definitions editors manage, the public submission endpoint that
// stores a visitor's submission and queues its mail in one transaction,
// and the submission management, export, erasure and retention that
// follow.
package forms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Config holds the forms service's dependencies and settings.
type Config struct {
	UoW        ports.UnitOfWork
	Authorizer ports.Authorizer
	Clock      ports.Clock
	// MailFrom is the sender of notifications and autoresponses.
	MailFrom string
	Spam     domain.SpamRules
	// IPHashKey keys the hash under which client IPs are stored; the raw
	// address is never kept. Nodes that share a database should share it.
	IPHashKey []byte
	// PerIP and PerForm, if set, throttle the public endpoint; Keel's
	// HTTP adapter leaves them unset and limits it itself.
	PerIP, PerForm ports.RateLimiter
	// PerRecipient, if set, limits autoresponses per recipient address
	// (lower-cased): the visitor chooses it.
	PerRecipient ports.RateLimiter
	// Log, if set, hears of skipped autoresponses and of stored forms
	// whose templates or patterns were set aside.
	Log *slog.Logger
	// Blobs, if set, stores the files of file fields; without it a file
	// part is refused with 415.
	Blobs ports.BlobStore
	// Wake, if set, is called after a submission commits so that the mail
	// dispatcher sends at once instead of at its next poll.
	Wake func()
}

// Service runs the forms use cases.
type Service struct {
	uow     ports.UnitOfWork
	authz   ports.Authorizer
	clock   ports.Clock
	from    string
	spam    domain.SpamRules
	ipKey   []byte
	perIP   ports.RateLimiter
	perForm ports.RateLimiter
	wake    func()
	blobs   ports.BlobStore
	// linkBase starts the file links of notifications (SetLinkBase).
	linkBase string

	perRecipient         ports.RateLimiter
	log                  *slog.Logger
	autoresponsesSkipped atomic.Int64
	formCache            formCache
}

// NewService wires the forms use cases.
func NewService(cfg Config) *Service {
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	if cfg.PerRecipient == nil {
		cfg.PerRecipient = unlimited{}
	}
	if cfg.PerIP == nil {
		cfg.PerIP = unlimited{}
	}
	if cfg.PerForm == nil {
		cfg.PerForm = unlimited{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		uow: cfg.UoW, authz: cfg.Authorizer, clock: cfg.Clock, from: cfg.MailFrom, spam: cfg.Spam,
		ipKey: cfg.IPHashKey, perIP: cfg.PerIP, perForm: cfg.PerForm, wake: cfg.Wake, blobs: cfg.Blobs,
		perRecipient: cfg.PerRecipient, log: cfg.Log,
	}
}

// AutoresponsesSkipped counts the autoresponses this service dropped
// because their recipient had had its share.
func (s *Service) AutoresponsesSkipped() int64 { return s.autoresponsesSkipped.Load() }

type unlimited struct{}

func (unlimited) Allow(context.Context, string) (bool, time.Duration) { return true, 0 }

func (s *Service) now() time.Time { return s.clock.Now() }

// hashIP is the keyed hash Keel stores instead of a client's address.
func (s *Service) hashIP(ip string) string {
	if ip == "" {
		return ""
	}
	m := hmac.New(sha256.New, s.ipKey)
	m.Write([]byte(ip))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// workspace resolves and authorizes a workspace reference; see
// usecase.Workspace.
func (s *Service) workspace(ctx context.Context, st ports.Stores, p domain.Principal, ref string, perm domain.Permission) (domain.Workspace, error) {
	return usecase.Workspace(ctx, st, s.authz, p, ref, perm)
}

// audit records what p just did in the caller's transaction; see
// usecase.Audit.
func (s *Service) audit(ctx context.Context, st ports.Stores, p domain.Principal, ws domain.WorkspaceID, action, targetKind, targetID string, details map[string]string) error {
	return usecase.Audit(ctx, st, p, ws, action, targetKind, targetID, details, s.now())
}
