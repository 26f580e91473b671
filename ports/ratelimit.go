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

// QuotaChain is what a Quotas may also do: take one request from each of
// several buckets in order, in one round trip, each only if every one
// before it allowed, as the public form submission does with its client's
// bucket and its form's. UseChain reports one QuotaUse per bucket it reached:
// fewer than asked when one refused, the last then the refusal.
type QuotaChain interface {
	UseChain(ctx context.Context, keys []string, qs []domain.Quota) []domain.QuotaUse
}
