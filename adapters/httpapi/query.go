package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
)

// queryRule is what one route accepts in its query string: the names its
// handler reads, or anything at all.
type queryRule struct {
	names []string
	any   bool
	msg   string // each unknown parameter's message, built once
}

// accepts is the rule of a route whose handler reads names.
func accepts(names ...string) queryRule {
	msg := "This endpoint takes no query parameters."
	if len(names) > 0 {
		msg = "Unknown query parameter; this endpoint accepts " + strings.Join(names, ", ") + "."
	}
	return queryRule{names: names, msg: msg}
}

// acceptsAnything is the rule of a route that must not refuse what the
// client's environment adds to its URL.
func acceptsAnything() queryRule { return queryRule{any: true} }

// paged is the query of every paged list (paging.go's pageOf).
var paged = []string{"cursor", "limit"}

// with appends names to a copy of base, so that paged stays intact.
func with(base []string, names ...string) []string {
	return append(slices.Clip(base), names...)
}

// queryParams lists, for every /v1 route, the query parameters its handler
// reads (grep its c.Query calls). Anything else is 400 unknown_parameter,
// so that a typo such as ?staus=new or a wish such as ?sort=title fails
// loudly instead of answering as if it had not been asked. A route
// without an entry accepts no parameters; TestEveryRouteHasQueryRule
// fails until it has one. HEAD is checked as GET; OPTIONS (preflight) is
// not checked.
var queryParams = map[Route]queryRule{
	{http.MethodPost, "/v1/setup"}:           accepts(),
	{http.MethodPost, "/v1/auth/login"}:      accepts(),
	{http.MethodPost, "/v1/auth/logout"}:     accepts(),
	{http.MethodGet, "/v1/me"}:               accepts(),
	{http.MethodGet, "/v1/api-keys/current"}: accepts(),
	{http.MethodGet, "/v1/instance"}:         accepts(),
	{http.MethodGet, "/v1/admin/backups"}:    accepts(),

	// The contract and its reference page (openapi.go).
	{http.MethodGet, "/v1/openapi.json"}:      accepts(),
	{http.MethodGet, "/v1/openapi.yaml"}:      accepts(),
	{http.MethodGet, "/v1/docs"}:              accepts(),
	{http.MethodGet, "/v1/docs/assets/:file"}: accepts(),

	{http.MethodPost, "/v1/users"}:             accepts(),
	{http.MethodGet, "/v1/users"}:              accepts(paged...),
	{http.MethodPatch, "/v1/users/:user"}:      accepts(),
	{http.MethodPost, "/v1/users/invitations"}: accepts(),
	{http.MethodGet, "/v1/audit-events"}:       accepts(paged...),

	{http.MethodPost, "/v1/workspaces"}:                      accepts(),
	{http.MethodGet, "/v1/workspaces"}:                       accepts(paged...),
	{http.MethodGet, "/v1/workspaces/:ws"}:                   accepts(),
	{http.MethodPatch, "/v1/workspaces/:ws"}:                 accepts(),
	{http.MethodDelete, "/v1/workspaces/:ws"}:                accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/mail-from/verify"}: accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/site"}:              accepts(),
	{http.MethodPatch, "/v1/workspaces/:ws/site"}:            accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/members"}:           accepts(paged...),
	{http.MethodPost, "/v1/workspaces/:ws/members"}:          accepts(),
	{http.MethodPatch, "/v1/workspaces/:ws/members/:user"}:   accepts(),
	{http.MethodDelete, "/v1/workspaces/:ws/members/:user"}:  accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/api-keys"}:         accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/api-keys"}:          accepts(paged...),
	{http.MethodPatch, "/v1/workspaces/:ws/api-keys/:key"}:   accepts(),
	{http.MethodDelete, "/v1/workspaces/:ws/api-keys/:key"}:  accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/audit-events"}:      accepts(paged...),

	// Invitations, password resets and account changes (invitations.go,
	// passwordreset.go, account.go).
	{http.MethodPost, "/v1/workspaces/:ws/invitations"}:               accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/invitations"}:                accepts(paged...),
	{http.MethodDelete, "/v1/workspaces/:ws/invitations/:invitation"}: accepts(),
	{http.MethodPost, "/v1/invitations/accept"}:                       accepts(),
	{http.MethodPost, "/v1/auth/password-reset"}:                      accepts(),
	{http.MethodPost, "/v1/auth/password-reset/confirm"}:              accepts(),
	{http.MethodPost, "/v1/auth/email-change/confirm"}:                accepts(),
	{http.MethodPost, "/v1/me/password"}:                              accepts(),
	{http.MethodPost, "/v1/me/email"}:                                 accepts(),

	// Two-factor authentication (twofactor.go).
	{http.MethodPost, "/v1/auth/login/second-factor"}:     accepts(),
	{http.MethodGet, "/v1/me/two-factor"}:                 accepts(),
	{http.MethodPost, "/v1/me/two-factor"}:                accepts(),
	{http.MethodPost, "/v1/me/two-factor/confirm"}:        accepts(),
	{http.MethodPost, "/v1/me/two-factor/disable"}:        accepts(),
	{http.MethodPost, "/v1/me/two-factor/recovery-codes"}: accepts(),

	// Its own group, so that its long path does not realign the block above.
	{http.MethodPost, "/v1/workspaces/:ws/api-keys/:key/rotate"}: accepts(),

	{http.MethodGet, "/v1/workspaces/:ws/messages"}:                 accepts(with(paged, "status")...),
	{http.MethodPost, "/v1/workspaces/:ws/messages/:message/retry"}: accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/events"}:                   accepts("after", "limit", "type"),

	{http.MethodPost, "/v1/workspaces/:ws/webhooks"}:                                         accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/webhooks"}:                                          accepts(paged...),
	{http.MethodGet, "/v1/workspaces/:ws/webhooks/:webhook"}:                                 accepts(),
	{http.MethodPatch, "/v1/workspaces/:ws/webhooks/:webhook"}:                               accepts(),
	{http.MethodDelete, "/v1/workspaces/:ws/webhooks/:webhook"}:                              accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/webhooks/:webhook/test"}:                           accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/webhooks/:webhook/rotate"}:                         accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/webhooks/:webhook/rotate-secret"}:                  accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/webhooks/:webhook/deliveries"}:                      accepts(with(paged, "status")...),
	{http.MethodGet, "/v1/workspaces/:ws/webhooks/:webhook/deliveries/:delivery"}:            accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/webhooks/:webhook/deliveries/:delivery/redeliver"}: accepts(),

	{http.MethodPost, "/v1/workspaces/:ws/forms"}:                              accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/forms"}:                               accepts(paged...),
	{http.MethodGet, "/v1/workspaces/:ws/forms/:form"}:                         accepts(),
	{http.MethodPatch, "/v1/workspaces/:ws/forms/:form"}:                       accepts(),
	{http.MethodDelete, "/v1/workspaces/:ws/forms/:form"}:                      accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/forms/:form/submissions"}:             accepts(with(paged, "status", "since", "until", "q")...),
	{http.MethodGet, "/v1/workspaces/:ws/forms/:form/submissions/export"}:      accepts("format"),
	{http.MethodGet, "/v1/workspaces/:ws/submissions/:id"}:                     accepts(),
	{http.MethodPatch, "/v1/workspaces/:ws/submissions/:id"}:                   accepts(),
	{http.MethodDelete, "/v1/workspaces/:ws/submissions/:id"}:                  accepts(),
	{http.MethodGet, "/v1/submission-files/:ws/:submission/:n"}:                accepts("expires", "sig"),
	{http.MethodPost, "/v1/workspaces/:ws/submissions/:id/not-spam"}:           accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/erasure"}:                            accepts(),
	{http.MethodPost, "/v1/forms/:form/submissions"}:                           acceptsAnything(), // a plain HTML form may post to a URL with tracking parameters
	{http.MethodPost, "/v1/workspaces/:ws/entries"}:                            accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/entries"}:                             accepts(with(paged, "kind", "status", "tag", "q")...),
	{http.MethodGet, "/v1/workspaces/:ws/entries/:id"}:                         accepts(),
	{http.MethodPatch, "/v1/workspaces/:ws/entries/:id"}:                       accepts(),
	{http.MethodDelete, "/v1/workspaces/:ws/entries/:id"}:                      accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/entries/:id/publish"}:                accepts(),
	{http.MethodPost, "/v1/workspaces/:ws/entries/:id/unpublish"}:              accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/entries/:id/revisions"}:               accepts(paged...),
	{http.MethodPost, "/v1/workspaces/:ws/entries/:id/revisions/:rev/restore"}: accepts(),

	// Preview links (previewlinks.go); the token of the public preview is
	// in its query, which the access log and traces leave out.
	{http.MethodPost, "/v1/workspaces/:ws/entries/:id/preview-links"}:         accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/entries/:id/preview-links"}:          accepts(paged...),
	{http.MethodDelete, "/v1/workspaces/:ws/entries/:id/preview-links/:link"}: accepts(),
	{http.MethodGet, "/v1/sites/:site/preview"}:                               accepts("token"),

	// Locales (locales.go).
	{http.MethodGet, "/v1/workspaces/:ws/locales"}:                 accepts(),
	{http.MethodPut, "/v1/workspaces/:ws/locales"}:                 accepts(),
	{http.MethodPut, "/v1/workspaces/:ws/entries/:id/translation"}: accepts(),

	// The public delivery API is strict too (README, "Public delivery
	// API"): its cache keys on the parameters below only, so accepting
	// others would buy no cache hits, only silent typos.
	{http.MethodGet, "/v1/sites/:site/posts"}:       accepts(with(paged, "tag", "q", "include", "updated_since", "locale")...),
	{http.MethodGet, "/v1/sites/:site/posts/:slug"}: accepts("locale"),
	{http.MethodGet, "/v1/sites/:site/pages/:slug"}: accepts("locale"),
	{http.MethodGet, "/v1/sites/:site/feed.xml"}:    accepts("locale"),
	{http.MethodGet, "/v1/sites/:site/sitemap.xml"}: accepts(),

	// Authors, tags and the list of pages (sitelists.go, authors.go).
	{http.MethodGet, "/v1/sites/:site/pages"}:              accepts(with(paged, "include", "updated_since", "locale")...),
	{http.MethodGet, "/v1/sites/:site/authors/:slug"}:      accepts(with(paged, "include", "updated_since")...),
	{http.MethodGet, "/v1/sites/:site/tags"}:               accepts(paged...),
	{http.MethodGet, "/v1/sites/:site/tags/:slug"}:         accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/authors"}:         accepts(paged...),
	{http.MethodPatch, "/v1/workspaces/:ws/authors/:user"}: accepts(),
	{http.MethodGet, "/v1/workspaces/:ws/tags"}:            accepts(paged...),
	{http.MethodPatch, "/v1/workspaces/:ws/tags/:slug"}:    accepts(),

	// The media library (media.go).
	{http.MethodPost, "/v1/workspaces/:ws/media"}:       accepts("name", "keep_metadata"),
	{http.MethodGet, "/v1/workspaces/:ws/media"}:        accepts(with(paged, "type", "q")...),
	{http.MethodGet, "/v1/workspaces/:ws/media/:id"}:    accepts(),
	{http.MethodPatch, "/v1/workspaces/:ws/media/:id"}:  accepts(),
	{http.MethodDelete, "/v1/workspaces/:ws/media/:id"}: accepts("force"),
	{http.MethodGet, "/v1/sites/:site/media/:id/:name"}: accepts("w"),
}

// noQuery is the rule of a route missing from queryParams.
var noQuery = accepts()

// queryRuleFor returns the rule of a route and whether it is checked at
// all: preflight is not, since browsers send it on their own.
func queryRuleFor(method, path string) (queryRule, bool) {
	switch method {
	case http.MethodOptions:
		return queryRule{}, false
	case http.MethodHead:
		method = http.MethodGet
	}
	r, ok := queryParams[Route{Method: method, Path: path}]
	if !ok {
		return noQuery, true
	}
	return r, !r.any
}

// errUnknownParameter is 400, not 422 like an unknown body field: the
// query is part of the resource's address, and a wrong address is a bad
// request whatever the body.
var errUnknownParameter = domain.E(domain.KindInvalid, "unknown_parameter", "The query has parameters this endpoint does not accept.")

// maxUnknownParams bounds the parameters one problem names, as
// maxFieldErrors does for a body's fields.
const maxUnknownParams = maxFieldErrors

// checkQuery refuses, with 400 unknown_parameter, a request whose query
// has parameters its route does not read, naming all of them, sorted.
// An empty query costs one comparison, and a valid one allocates nothing.
func checkQuery(c *gin.Context) {
	raw := c.Request.URL.RawQuery
	if raw == "" {
		return
	}
	rule, checked := queryRuleFor(c.Request.Method, c.FullPath())
	if !checked {
		return
	}
	unknown := unknownParams(rule, raw)
	if len(unknown) == 0 {
		return
	}
	errs := make([]domain.FieldError, len(unknown))
	for i, name := range unknown {
		unknown[i] = joinPath("", name) // cut to maxKeyEcho bytes: the names are the client's
		errs[i] = domain.FieldError{Field: "query." + unknown[i], Code: "unknown_parameter", Message: rule.msg}
	}
	fail(c, errUnknownParameter.WithMessage("The query has parameters this endpoint does not accept: %s.", strings.Join(unknown, ", ")).WithFields(errs...))
	c.Abort()
}

// unknownParams returns the names in raw that rule does not accept,
// sorted and each once, at most maxUnknownParams of them; nil when there
// are none. It splits as url.ParseQuery does, and a pair that ParseQuery
// would drop (one with a ";", or an escape that does not decode) is named
// as written, since a handler would silently never see it.
func unknownParams(rule queryRule, raw string) []string {
	var unknown []string
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if strings.Contains(pair, ";") {
			unknown = append(unknown, pair)
			continue
		}
		if strings.ContainsAny(name, "%+") {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
		}
		if !slices.Contains(rule.names, name) {
			unknown = append(unknown, name)
		}
	}
	if unknown == nil {
		return nil
	}
	// Sorting first keeps a query of many thousand names from costing
	// a quadratic search for duplicates.
	slices.Sort(unknown)
	unknown = slices.Compact(unknown)
	if len(unknown) > maxUnknownParams {
		unknown = unknown[:maxUnknownParams]
	}
	return unknown
}
