package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// RateLimits configures the quotas on /v1 requests. A nil Quotas turns
// rate limiting off (the HTTP tests' default); a quota with no limit
// turns that one policy off, and its headers with it.
type RateLimits struct {
	// Quotas keeps the buckets; nil limits nothing.
	Quotas ports.Quotas
	// APIKey, Session and Anonymous are the instance's quotas per API
	// key, per signed-in user and per anonymous client IP. A workspace may
	// set its own APIKey and Session quotas (domain.RateLimits).
	APIKey, Session, Anonymous domain.Quota
	// SubmitPerClient and SubmitPerForm limit the public form submission:
	// per form and client IP, and per form for all clients together.
	SubmitPerClient, SubmitPerForm domain.Quota
	// WorkspaceTTL is how long a node keeps a workspace's own quotas
	// before reading them again; zero is DefaultWorkspaceLimitsTTL.
	WorkspaceTTL time.Duration
}

// DefaultWorkspaceLimitsTTL bounds how long another node's change to a
// workspace's quotas takes to apply here; the node that made the change
// applies it at once.
const DefaultWorkspaceLimitsTTL = 30 * time.Second

// maxCachedWorkspaces bounds the workspaces whose quotas a node keeps; the
// references come from URLs, so a flood of unknown ones must not grow the
// cache without end. A full cache is emptied and refills as requests come.
const maxCachedWorkspaces = 10_000

// The policy names clients see in RateLimit-Policy and RateLimit.
const (
	policyAPIKey     = "api_key"
	policySession    = "session"
	policyAnonymous  = "anonymous"
	policyFormClient = "form_client"
	policyForm       = "form"
)

// submitRoute is the public form submission, whose handler answers a
// refusal itself (a browser gets a redirect or a page): the limiter
// leaves the refusal in the context for it instead of aborting.
const submitRoute = "/v1/forms/:form/submissions"

// rateLimitHeaders are the headers scripts on public routes' allowed
// origins may read (Access-Control-Expose-Headers), in their draft's
// spelling.
const rateLimitHeaders = "RateLimit, RateLimit-Policy"

// rateLimitedKey holds the refusal the limiter left for the submission
// handler.
const rateLimitedKey = "keel.rateLimited"

// policy is a quota with its name and its RateLimit-Policy member, which
// is formatted once rather than on every request.
type policy struct {
	name   string
	q      domain.Quota
	member []string // RateLimit-Policy: "name";q=600;w=60, shared by every response
	prefix string   // "name";r=
}

// newPolicy names q. The syntax is the structured-field list of the IETF
// httpapi working group's "RateLimit header fields for HTTP"
// (draft-ietf-httpapi-ratelimit-headers-10 and -11): an sf-string naming
// the policy, q the quota and w the window in seconds.
func newPolicy(name string, q domain.Quota) policy {
	return policy{
		name:   name,
		q:      q,
		member: []string{strconv.Quote(name) + ";q=" + strconv.Itoa(q.Limit) + ";w=" + strconv.Itoa(int(q.Window/time.Second))},
		prefix: strconv.Quote(name) + ";r=",
	}
}

// appendUse appends the policy's member of the RateLimit field: r the
// requests left, t the seconds until the quota is whole again (rounded
// up, so that a client waiting t seconds finds it whole).
func (p policy) appendUse(b []byte, u domain.QuotaUse) []byte {
	b = append(b, p.prefix...)
	b = strconv.AppendInt(b, int64(u.Remaining), 10)
	b = append(b, ";t="...)
	return strconv.AppendInt(b, int64((u.Reset+time.Second-1)/time.Second), 10)
}

// workspaceLimits are a workspace's policies as a node caches them.
type workspaceLimits struct {
	apiKey, session policy
	expires         time.Time
}

// limiter is the rate-limit middleware's state.
type limiter struct {
	quotas ports.Quotas
	ids    *identity.Service // nil: every workspace has the instance's quotas
	ttl    time.Duration
	now    func() time.Time

	defaults     workspaceLimits // the instance's API key and session policies
	anonymous    policy
	formClient   policy
	form         policy
	submitPolicy []string // RateLimit-Policy of the submission route

	mu         sync.RWMutex
	workspaces map[string]workspaceLimits // by the reference requests use
}

func newLimiter(cfg RateLimits, ids *identity.Service) *limiter {
	if cfg.WorkspaceTTL <= 0 {
		cfg.WorkspaceTTL = DefaultWorkspaceLimitsTTL
	}
	l := &limiter{
		quotas: cfg.Quotas, ids: ids, ttl: cfg.WorkspaceTTL, now: time.Now,
		defaults:   workspaceLimits{apiKey: newPolicy(policyAPIKey, cfg.APIKey), session: newPolicy(policySession, cfg.Session)},
		anonymous:  newPolicy(policyAnonymous, cfg.Anonymous),
		formClient: newPolicy(policyFormClient, cfg.SubmitPerClient),
		form:       newPolicy(policyForm, cfg.SubmitPerForm),
		workspaces: map[string]workspaceLimits{},
	}
	var members []string
	for _, p := range []policy{l.formClient, l.form} {
		if p.q.Valid() {
			members = append(members, p.member[0])
		}
	}
	if len(members) > 0 {
		l.submitPolicy = []string{strings.Join(members, ", ")}
	}
	return l
}

// rateLimit limits every /v1 request but CORS preflights to its caller's
// quota, after authentication, since quotas are per credential:
//
//   - an API key: its workspace's api_key quota, wherever it calls;
//   - a signed-in user under /v1/workspaces/{ws}/: that workspace's
//     session quota, in a bucket of its own per workspace; elsewhere
//     (/v1/me, the lists of workspaces and users), the instance's;
//   - an anonymous caller: the instance's anonymous quota per client IP,
//     in a bucket of its own per site for the public content API, so that
//     one workspace's visitors never spend another's quota;
//   - the public form submission: per form and client IP (form_client)
//     and per form (form), whoever calls.
//
// Every limited response, refusals included, carries RateLimit-Policy and
// RateLimit; a refusal is 429 rate_limited with Retry-After.
func rateLimit(l *limiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Method == http.MethodOptions {
			c.Next()
			return
		}
		route := c.FullPath()
		var err error
		if route == submitRoute {
			// A body declared too large is refused without spending a
			// submission, as any request limitBody refuses.
			if c.GetBool(bodyTooLargeKey) {
				c.Next()
				return
			}
			if err = l.submission(c); err != nil {
				c.Set(rateLimitedKey, err)
			}
			c.Next()
			return
		}
		if err = l.request(c, route); err != nil {
			_ = c.Error(err)
			c.Abort()
			return
		}
		c.Next()
		// This node applies a change of a workspace's quotas at once;
		// others when their copy expires. The reference may have been a
		// slug that changed too, so every copy goes.
		if route == "/v1/workspaces/:ws" && c.Request.Method == http.MethodPatch && c.Writer.Status() == http.StatusOK {
			l.mu.Lock()
			clear(l.workspaces)
			l.mu.Unlock()
		}
	}
}

// request takes one request from the caller's bucket and sets the
// headers; it returns domain.ErrRateLimited when the bucket is empty.
func (l *limiter) request(c *gin.Context, route string) error {
	p := principal(c)
	var (
		pol policy
		key string
	)
	ctx := c.Request.Context()
	switch {
	case p.IsAPIKey():
		pol = l.limitsOf(ctx, string(p.KeyWorkspace())).apiKey
		key = "key:" + string(p.APIKey())
	case p.User() != "":
		pol, key = l.defaults.session, "user:"+string(p.User())
		if ws := c.Param("ws"); ws != "" && strings.HasPrefix(route, "/v1/workspaces/:ws") {
			pol, key = l.limitsOf(ctx, ws).session, "user:"+string(p.User())+"|ws:"+ws
		}
	default:
		// Each key is built in one concatenation: one allocation.
		pol = l.anonymous
		if site := c.Param("site"); site != "" {
			key = "anon:" + c.ClientIP() + "|site:" + site
		} else if ws := c.Param("ws"); ws != "" {
			key = "anon:" + c.ClientIP() + "|ws:" + ws
		} else {
			key = "anon:" + c.ClientIP()
		}
	}
	if !pol.q.Valid() {
		return nil
	}
	u := l.quotas.Use(ctx, key, pol.q)
	var buf [64]byte
	hd := c.Writer.Header()
	hd["Ratelimit-Policy"] = pol.member
	hd["Ratelimit"] = []string{string(pol.appendUse(buf[:0], u))}
	if !u.Allowed {
		return domain.ErrRateLimited.WithRetryAfter(u.RetryAfter)
	}
	return nil
}

// submission takes one submission from the client's bucket for the form,
// then from the form's, and sets the headers of both.
func (l *limiter) submission(c *gin.Context) error {
	if l.submitPolicy == nil {
		return nil
	}
	form := c.Param("form")
	ctx := c.Request.Context()
	var buf [128]byte
	b := buf[:0]
	var err error
	// On PostgreSQL both buckets are taken in one statement, each round
	// trip on the submission's path counting: the same order and the same
	// refusals as the loop below.
	if ch, ok := l.quotas.(ports.QuotaChain); ok {
		us := ch.UseChain(ctx, []string{"form:" + form + "|ip:" + c.ClientIP(), "form:" + form}, []domain.Quota{l.formClient.q, l.form.q})
		for i, pol := range [...]policy{l.formClient, l.form} {
			if i >= len(us) || !pol.q.Valid() {
				continue
			}
			if len(b) > 0 {
				b = append(b, ", "...)
			}
			b = pol.appendUse(b, us[i])
			if !us[i].Allowed {
				err = domain.ErrRateLimited.WithRetryAfter(us[i].RetryAfter)
			}
		}
		hd := c.Writer.Header()
		hd["Ratelimit-Policy"] = l.submitPolicy
		hd["Ratelimit"] = []string{string(b)}
		return err
	}
	for _, pol := range [...]policy{l.formClient, l.form} {
		if !pol.q.Valid() {
			continue
		}
		key := "form:" + form
		if pol.name == policyFormClient {
			key = "form:" + form + "|ip:" + c.ClientIP()
		}
		u := l.quotas.Use(ctx, key, pol.q)
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = pol.appendUse(b, u)
		if !u.Allowed {
			// The form's own bucket is left alone: a client over its
			// quota must not spend the form's.
			err = domain.ErrRateLimited.WithRetryAfter(u.RetryAfter)
			break
		}
	}
	hd := c.Writer.Header()
	hd["Ratelimit-Policy"] = l.submitPolicy
	hd["Ratelimit"] = []string{string(b)}
	return err
}

// limitsOf returns the policies of the workspace ref names (its ID or
// slug), from this node's copy while it is fresh. An unknown workspace,
// or one whose quotas cannot be read, has the instance's: limiting must
// not fail a request the handler would answer.
func (l *limiter) limitsOf(ctx context.Context, ref string) workspaceLimits {
	if l.ids == nil {
		return l.defaults
	}
	now := l.now()
	l.mu.RLock()
	w, ok := l.workspaces[ref]
	l.mu.RUnlock()
	if ok && now.Before(w.expires) {
		return w
	}
	w = l.defaults
	if own, err := l.ids.WorkspaceRateLimits(ctx, ref); err == nil {
		if own.APIKey > 0 {
			w.apiKey = newPolicy(policyAPIKey, domain.PerMinute(own.APIKey))
		}
		if own.Session > 0 {
			w.session = newPolicy(policySession, domain.PerMinute(own.Session))
		}
	} else if domain.KindOf(err) != domain.KindNotFound {
		return w // a failed read is not remembered
	}
	w.expires = now.Add(l.ttl)
	l.mu.Lock()
	if len(l.workspaces) >= maxCachedWorkspaces {
		clear(l.workspaces)
	}
	l.workspaces[ref] = w
	l.mu.Unlock()
	return w
}

// rateLimited returns the refusal the limiter left for the submission
// handler, or nil.
func rateLimited(c *gin.Context) error {
	if err, ok := c.Get(rateLimitedKey); ok {
		return err.(error)
	}
	return nil
}
