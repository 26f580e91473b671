package forms

import (
	"sync"
	"time"

	"github.com/keelhq/keel/domain"
)

// Bounds of the forms Submit keeps parsed. A form is at most a few
// hundred kilobytes parsed (domain.MaxFields fields, bounded templates),
// so the cache stays within a few megabytes even of the largest forms.
const (
	formCacheSize = 256
	// senderTTL is how long a cached form's sender address is used: the
	// workspace's sender has no stamp that the submission's transaction
	// could check, so a newly verified sender reaches submissions within
	// this time.
	senderTTL = 5 * time.Second
)

// formCache keeps the forms that visitors submit to, parsed, with their
// workspace's sender, so that a submission neither reads its form nor
// compiles its templates and patterns again. It is safe because Submit's
// transaction reads the form's updated_at and compares it with the cached
// form's: a form edited on any node since it was cached is read again
// before its submission is stored.
type formCache struct {
	mu    sync.Mutex
	forms map[domain.FormID]cachedForm
}

type cachedForm struct {
	form   domain.Form
	from   string
	expiry time.Time
}

// get returns the cached form id and its sender, unless the sender's time
// is over at now.
func (c *formCache) get(id domain.FormID, now time.Time) (domain.Form, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.forms[id]
	if !ok || !now.Before(e.expiry) {
		return domain.Form{}, "", false
	}
	return e.form, e.from, true
}

// put caches f with its sender from, read at now. A full cache drops an
// arbitrary entry: forms that visitors use come back at once, and an
// attacker who cycles through many forms costs each of them a read, as
// without a cache.
func (c *formCache) put(f domain.Form, from string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forms == nil {
		c.forms = make(map[domain.FormID]cachedForm)
	}
	if _, ok := c.forms[f.ID()]; !ok && len(c.forms) >= formCacheSize {
		for id := range c.forms {
			delete(c.forms, id)
			break
		}
	}
	c.forms[f.ID()] = cachedForm{form: f, from: from, expiry: now.Add(senderTTL)}
}

// drop forgets the form id, which its transaction found changed.
func (c *formCache) drop(id domain.FormID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.forms, id)
}
