package ports

import (
	"context"

	"github.com/keelhq/keel/domain"
)

// Quotas keeps a token bucket per key under the quota each call names, so
// that one store serves every workspace's own limits and tells the caller
// what is left, for the RateLimit headers. Keys carry their tenant and
// credential, so that one tenant's clients never spend another's quota.
type Quotas interface {
	// Use takes one request from key's bucket under q.
	Use(ctx context.Context, key string, q domain.Quota) domain.QuotaUse
}
