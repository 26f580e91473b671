package authz

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// principal is a kind of caller, one column of the matrix. The four
// roles are users who are members of workspace A; the keys are A's, made
// by A's owner.
type principal int

const (
	anonymous       principal = iota // no Authorization header
	viewer                           // a viewer of A
	editor                           // an editor of A
	admin                            // an admin of A
	owner                            // an owner of A
	instanceAdmin                    // the first user, in no workspace
	keyWithScope                     // a key holding the scope the route needs
	keyWithoutScope                  // a key holding an unrelated scope
	otherMember                      // the owner of workspace B, not in A
	revokedKey                       // a key with every scope, revoked
	expiredSession                   // A's owner's session, past its lifetime
	principals
)

var principalNames = [principals]string{
	"anonymous", "viewer", "editor", "admin", "owner", "instance_admin",
	"key_with_scope", "key_without_scope", "other_workspace_member", "revoked_key", "expired_session",
}

func (p principal) String() string { return principalNames[p] }

// statuses is one row of the matrix: the status each principal gets.
type statuses [principals]int

// want lists a row's statuses in column order; its parameters make the
// compiler count the columns.
func want(anon, view, edit, adm, own, inst, keyWith, keyWithout, other, revoked, expired int) statuses {
	return statuses{anon, view, edit, adm, own, inst, keyWith, keyWithout, other, revoked, expired}
}

// row is a route and what each principal gets from it.
type row struct {
	want  statuses
	route string // "METHOD path" as the router names it
	// scope is the API key scope the route needs, "" where no scope grants
	// it or none is needed; key_with_scope then holds every scope.
	scope string
	body  func(f *fixture) any // a valid request body; nil for none
	byID  bool                 // name workspace A by ID rather than slug
	// codes are the problem codes some principals get instead of their
	// status's code in problemCodes.
	codes map[principal]string
}

// readOnly rows share a fixture per principal; every other cell has a
// database of its own, since it may delete, revoke or log out.
func (r row) readOnly() bool { return strings.HasPrefix(r.route, "GET ") }

// matrix is the specification, written from the README's "Users,
// workspaces and access" section and not from the production policy:
// viewers read; editors also write forms, submissions and content; admins
// also manage members, webhooks, API keys and the workspace's name, read the audit
// log, see and retry the mail outbox, read the change feed and erase a
// person's submissions;
// owners also delete the workspace.
// Non-members get 404 as if the workspace did not exist, instance
// administrators included. A key acts with its scope and its creator's
// (here the owner's) role; routes that no scope grants refuse every key
// with 403. No credentials get 401, and so do bad ones on every route,
// public ones included: authentication runs first.
var matrix = []row{
	//          ano  vie  edi  adm  own  ins  ks+  ks-  oth  rev  exp
	{want: want(409, 409, 409, 409, 409, 409, 409, 409, 409, 401, 401), route: "POST /v1/setup", body: setupBody},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "POST /v1/auth/login", body: loginBody},
	{want: want(401, 204, 204, 204, 204, 204, 403, 403, 204, 401, 401), route: "POST /v1/auth/logout"},
	// Anyone may ask for a reset, and a made-up token is refused alike for
	// every caller.
	{want: want(202, 202, 202, 202, 202, 202, 202, 202, 202, 401, 401), route: "POST /v1/auth/password-reset", body: resetBody},
	{want: want(404, 404, 404, 404, 404, 404, 404, 404, 404, 401, 401), route: "POST /v1/auth/password-reset/confirm", body: confirmResetBody, codes: unusableReset},
	{want: want(401, 200, 200, 200, 200, 200, 403, 403, 200, 401, 401), route: "GET /v1/me"},
	// People manage their own two-factor authentication; keys have none.
	// With none started or on, confirming, turning off and regenerating
	// are conflicts; a made-up login challenge is refused alike for every
	// caller.
	{want: want(401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401), route: "POST /v1/auth/login/second-factor", body: secondFactorBody, codes: unusableChallenge},
	{want: want(401, 200, 200, 200, 200, 200, 403, 403, 200, 401, 401), route: "GET /v1/me/two-factor"},
	{want: want(401, 201, 201, 201, 201, 201, 403, 403, 201, 401, 401), route: "POST /v1/me/two-factor", body: twoFactorProofBody},
	{want: want(401, 409, 409, 409, 409, 409, 403, 403, 409, 401, 401), route: "POST /v1/me/two-factor/confirm", body: confirmTwoFactorBody, codes: twoFactorConflict("two_factor_not_started")},
	{want: want(401, 409, 409, 409, 409, 409, 403, 403, 409, 401, 401), route: "POST /v1/me/two-factor/disable", body: twoFactorProofBody, codes: twoFactorConflict("two_factor_not_enabled")},
	{want: want(401, 409, 409, 409, 409, 409, 403, 403, 409, 401, 401), route: "POST /v1/me/two-factor/recovery-codes", body: twoFactorProofBody, codes: twoFactorConflict("two_factor_not_enabled")},
	// People change their own password and address; keys have neither. A
	// made-up confirmation token is refused alike for every caller.
	{want: want(401, 204, 204, 204, 204, 204, 403, 403, 204, 401, 401), route: "POST /v1/me/password", body: changePasswordBody},
	{want: want(401, 202, 202, 202, 202, 202, 403, 403, 202, 401, 401), route: "POST /v1/me/email", body: changeEmailBody},
	{want: want(404, 404, 404, 404, 404, 404, 404, 404, 404, 401, 401), route: "POST /v1/auth/email-change/confirm", body: confirmEmailChangeBody, codes: unusableEmailChange},
	// Any key sees itself, whatever its scopes; people have /v1/me.
	{want: want(401, 403, 403, 403, 403, 403, 200, 200, 403, 401, 401), route: "GET /v1/api-keys/current", codes: notAnAPIKey},

	{want: want(401, 403, 403, 403, 403, 201, 403, 403, 403, 401, 401), route: "POST /v1/users", body: createUserBody},
	{want: want(401, 403, 403, 403, 403, 200, 403, 403, 403, 401, 401), route: "GET /v1/users"},
	{want: want(401, 403, 403, 403, 403, 200, 403, 403, 403, 401, 401), route: "GET /v1/admin/backups"},
	{want: want(401, 403, 403, 403, 403, 200, 403, 403, 403, 401, 401), route: "PATCH /v1/users/:user", body: disableUserBody},
	{want: want(401, 403, 403, 403, 403, 202, 403, 403, 403, 401, 401), route: "POST /v1/users/invitations", body: inviteUserBody},

	// Of the users, only the owner and the other workspace's owner are
	// allowed to create workspaces, besides the instance administrator.
	{want: want(401, 403, 403, 403, 201, 201, 403, 403, 201, 401, 401), route: "POST /v1/workspaces", body: createWorkspaceBody,
		codes: map[principal]string{viewer: "workspace_creation_not_allowed", editor: "workspace_creation_not_allowed", admin: "workspace_creation_not_allowed"}},
	{want: want(401, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/workspaces"},
	{want: want(401, 200, 200, 200, 200, 404, 200, 200, 404, 401, 401), route: "GET /v1/workspaces/:ws"},
	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws", body: renameBody},
	// Workspace A has no sender waiting for a code: 409 is past authorization.
	{want: want(401, 403, 403, 409, 409, 404, 403, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/mail-from/verify", body: verifyMailFromBody,
		codes: map[principal]string{admin: "mail_from_not_pending", owner: "mail_from_not_pending"}},
	{want: want(401, 403, 403, 403, 204, 404, 403, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws", byID: true},
	// The site settings are read with the content and changed by admins.
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/site", scope: "content:read"},
	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/site", body: siteBody},

	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/members", scope: "members:read", byID: true},
	{want: want(401, 403, 403, 201, 201, 404, 201, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/members", scope: "members:write", body: addMemberBody},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/members/:user", scope: "members:write", body: changeRoleBody},
	{want: want(401, 403, 403, 204, 204, 404, 204, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/members/:user", scope: "members:write"},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/invitations", scope: "members:read"},
	{want: want(401, 403, 403, 201, 201, 404, 201, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/invitations", scope: "members:write", body: inviteBody},
	{want: want(401, 403, 403, 204, 204, 404, 204, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/invitations/:invitation", scope: "members:write"},
	// Accepting needs only the mailed token: a made-up one is refused alike
	// for every caller.
	{want: want(404, 404, 404, 404, 404, 404, 404, 404, 404, 401, 401), route: "POST /v1/invitations/accept", body: acceptBody, codes: unusableInvitation},

	{want: want(401, 403, 403, 201, 201, 404, 403, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/api-keys", body: createKeyBody},
	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/api-keys"},
	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/api-keys/:key", body: narrowKeyBody},
	{want: want(401, 403, 403, 204, 204, 404, 403, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/api-keys/:key"},
	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/api-keys/:key/rotate"},

	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/audit-events"},
	{want: want(401, 403, 403, 403, 403, 200, 403, 403, 403, 401, 401), route: "GET /v1/audit-events"},

	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/messages"},
	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/messages/:message/retry", byID: true},

	// The change feed carries every resource, members and API keys
	// included, so it is for admins and owners and keys with events:read.
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/events", scope: "events:read", byID: true},

	// Webhooks are for admins and owners, and keys with webhooks:read or
	// webhooks:write: an endpoint receives every event it subscribes to.
	{want: want(401, 403, 403, 201, 201, 404, 201, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/webhooks", scope: "webhooks:write", body: createWebhookBody},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/webhooks", scope: "webhooks:read"},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/webhooks/:webhook", scope: "webhooks:read", byID: true},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/webhooks/:webhook", scope: "webhooks:write", body: describeWebhookBody},
	{want: want(401, 403, 403, 204, 204, 404, 204, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/webhooks/:webhook", scope: "webhooks:write"},
	{want: want(401, 403, 403, 202, 202, 404, 202, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/webhooks/:webhook/test", scope: "webhooks:write"},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/webhooks/:webhook/rotate", scope: "webhooks:write", byID: true},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/webhooks/:webhook/rotate-secret", scope: "webhooks:write", byID: true}, // deprecated spelling
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/webhooks/:webhook/deliveries", scope: "webhooks:read"},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/webhooks/:webhook/deliveries/:delivery", scope: "webhooks:read", byID: true},
	{want: want(401, 403, 403, 202, 202, 404, 202, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/webhooks/:webhook/deliveries/:delivery/redeliver", scope: "webhooks:write"},

	{want: want(401, 403, 201, 201, 201, 404, 201, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/forms", scope: "forms:write", body: createFormBody},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/forms", scope: "forms:read"},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/forms/:form", scope: "forms:read", byID: true},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/forms/:form", scope: "forms:write", body: renameFormBody},
	{want: want(401, 403, 204, 204, 204, 404, 204, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/forms/:form", scope: "forms:write"},

	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/forms/:form/submissions", scope: "submissions:read"},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/forms/:form/submissions/export", scope: "submissions:read"},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/submissions/:id", scope: "submissions:read", byID: true},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/submissions/:id", scope: "submissions:write", body: fileSubmissionBody},
	{want: want(401, 403, 204, 204, 204, 404, 204, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/submissions/:id", scope: "submissions:write"},
	// A file's download link is its own credential: a made-up signature
	// is refused alike for every caller.
	{want: want(403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401), route: "GET /v1/submission-files/:ws/:submission/:n", byID: true, codes: madeUpFileLink},
	// Marking a submission that is not spam "not spam" changes nothing and
	// answers it: past authorization.
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/submissions/:id/not-spam", scope: "submissions:write"},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/erasure", scope: "submissions:erase", body: erasureBody},

	{want: want(401, 403, 201, 201, 201, 404, 201, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/entries", scope: "content:write", body: createEntryBody},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/entries", scope: "content:read"},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/entries/:id", scope: "content:read", byID: true},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/entries/:id", scope: "content:write", body: retitleEntryBody},
	{want: want(401, 403, 204, 204, 204, 404, 204, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/entries/:id", scope: "content:write"},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/entries/:id/publish", scope: "content:write"},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/entries/:id/unpublish", scope: "content:write", body: unpublishBody},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/entries/:id/revisions", scope: "content:read"},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/entries/:id/revisions/:rev/restore", scope: "content:write", byID: true},
	// Authors and tags: read with the content; a tag is changed by
	// editors, a profile by its member or by admins (:user is the target,
	// a viewer whom the viewer row is not).
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/authors", scope: "content:read"},
	{want: want(401, 403, 403, 200, 200, 404, 200, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/authors/:user", scope: "members:write", body: authorBody},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/tags", scope: "content:read"},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/tags/:slug", scope: "content:write", body: tagBody},
	{want: want(401, 403, 201, 201, 201, 404, 201, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/entries/:id/preview-links", scope: "content:write", body: previewLinkBody},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/entries/:id/preview-links", scope: "content:read"},
	{want: want(401, 403, 204, 204, 204, 404, 204, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/entries/:id/preview-links/:link", scope: "content:write"},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "PUT /v1/workspaces/:ws/entries/:id/translation", scope: "content:write", body: translationBody},
	{want: want(401, 200, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/locales", scope: "content:read"},
	{want: want(401, 403, 403, 200, 200, 404, 403, 403, 404, 401, 401), route: "PUT /v1/workspaces/:ws/locales", body: localesBody},

	// The media library: editors and up (media:read, media:write); a
	// file's public URL needs no credentials.
	{want: want(401, 403, 201, 201, 201, 404, 201, 403, 404, 401, 401), route: "POST /v1/workspaces/:ws/media", scope: "media:write"},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/media", scope: "media:read"},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "GET /v1/workspaces/:ws/media/:id", scope: "media:read"},
	{want: want(401, 403, 200, 200, 200, 404, 200, 403, 404, 401, 401), route: "PATCH /v1/workspaces/:ws/media/:id", scope: "media:write", body: mediaBody},
	{want: want(401, 403, 204, 204, 204, 404, 204, 403, 404, 401, 401), route: "DELETE /v1/workspaces/:ws/media/:id", scope: "media:write"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/media/:id/:name"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/media/:id/:name"},

	// The public endpoints need no credentials; valid ones change nothing.
	{want: want(201, 201, 201, 201, 201, 201, 201, 201, 201, 401, 401), route: "POST /v1/forms/:form/submissions", body: submitBody},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/forms/:form/submissions"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/posts"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/posts"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/posts/:slug"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/posts/:slug"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/pages/:slug"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/pages/:slug"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/feed.xml"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/feed.xml"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/sitemap.xml"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/sitemap.xml"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/preview"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/preview"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/posts"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/posts/:slug"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/pages/:slug"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/feed.xml"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/sitemap.xml"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/pages"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/pages"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/authors/:slug"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/authors/:slug"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/tags"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/tags"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/sites/:site/tags/:slug"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "HEAD /v1/sites/:site/tags/:slug"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/pages"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/authors/:slug"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/tags"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/tags/:slug"},
	{want: want(204, 204, 204, 204, 204, 204, 204, 204, 204, 401, 401), route: "OPTIONS /v1/sites/:site/preview"},

	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/instance"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/openapi.json"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/openapi.yaml"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/docs"},
	{want: want(200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401), route: "GET /v1/docs/assets/:file"},
}

// problemCodes is the code each error status of the matrix must carry.
var problemCodes = map[int]string{
	http.StatusUnauthorized: "unauthenticated",
	http.StatusForbidden:    "forbidden",
	http.StatusNotFound:     "not_found",
	http.StatusConflict:     "already_set_up",
}

// checkResponse compares w with the status the matrix promises p on r, and
// checks that an error is a problem document with the status's code.
func checkResponse(t *testing.T, w *httptest.ResponseRecorder, r row, p principal) {
	t.Helper()
	want := r.want[p]
	if w.Code != want {
		t.Errorf("%s as %s: status %d, want %d; body %s", r.route, p, w.Code, want, w.Body)
		return
	}
	if want < 400 {
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s as %s: Content-Type %q, want application/problem+json", r.route, p, ct)
	}
	var prob struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &prob); err != nil {
		t.Errorf("%s as %s: problem %s: %v", r.route, p, w.Body, err)
		return
	}
	code := problemCodes[want]
	if c, ok := r.codes[p]; ok {
		code = c
	}
	if prob.Status != want || prob.Code != code {
		t.Errorf("%s as %s: problem status %d code %q, want %d %q", r.route, p, prob.Status, prob.Code, want, code)
	}
}

func setupBody(*fixture) any {
	return map[string]string{"email": "eve@example.com", "password": password, "name": "Eve"}
}

func loginBody(*fixture) any {
	return map[string]string{"email": "target@example.com", "password": password}
}

func createUserBody(*fixture) any {
	return map[string]any{"email": "new@example.com", "password": password, "name": "New"}
}

func inviteUserBody(*fixture) any {
	return map[string]any{"email": "invited@example.com", "name": "Invited"}
}

func disableUserBody(*fixture) any { return map[string]string{"status": "disabled"} }

func createWorkspaceBody(*fixture) any {
	return map[string]string{"name": "Workspace C", "slug": "ws-c"}
}

func renameBody(*fixture) any { return map[string]string{"name": "Renamed"} }

func authorBody(*fixture) any { return map[string]string{"bio": "Writes."} }

func tagBody(*fixture) any { return map[string]string{"description": "What happened."} }

func verifyMailFromBody(*fixture) any { return map[string]string{"code": "not-the-code"} }

func siteBody(*fixture) any { return map[string]string{"site_url": "https://www.example.com"} }

func mediaBody(*fixture) any { return map[string]string{"alt": "Our logo"} }

func addMemberBody(f *fixture) any {
	return map[string]string{"user_id": string(f.newcomer), "role": "viewer"}
}

func changeRoleBody(*fixture) any { return map[string]string{"role": "editor"} }

func inviteBody(*fixture) any {
	return map[string]string{"email": "grace@example.com", "role": "viewer"}
}

func acceptBody(*fixture) any {
	return map[string]string{"token": "kin_0000000000000000000000000000000000000000000000000000", "name": "Grace", "password": "correct horse battery"}
}

func resetBody(*fixture) any { return map[string]string{"email": "viewer@example.com"} }

func confirmResetBody(*fixture) any {
	return map[string]string{"token": "kpr_0000000000000000000000000000000000000000000000000000", "password": "a brand new passphrase"}
}

// unusableReset is the code every caller gets for a made-up reset token.
var madeUpFileLink = map[principal]string{
	anonymous: "invalid_file_link", viewer: "invalid_file_link", editor: "invalid_file_link", admin: "invalid_file_link",
	owner: "invalid_file_link", instanceAdmin: "invalid_file_link", keyWithScope: "invalid_file_link",
	keyWithoutScope: "invalid_file_link", otherMember: "invalid_file_link",
}

var unusableReset = map[principal]string{
	anonymous: "password_reset_unusable", viewer: "password_reset_unusable", editor: "password_reset_unusable", admin: "password_reset_unusable",
	owner: "password_reset_unusable", instanceAdmin: "password_reset_unusable", keyWithScope: "password_reset_unusable",
	keyWithoutScope: "password_reset_unusable", otherMember: "password_reset_unusable",
}

func changePasswordBody(*fixture) any {
	return map[string]string{"current_password": password, "new_password": "a brand new passphrase"}
}

func changeEmailBody(*fixture) any {
	return map[string]string{"email": "moved@example.org", "password": password}
}

func confirmEmailChangeBody(*fixture) any {
	return map[string]string{"token": "kec_0000000000000000000000000000000000000000000000000000"}
}

// unusableEmailChange is the code every caller gets for a made-up e-mail
// change token.
var unusableEmailChange = map[principal]string{
	anonymous: "email_change_unusable", viewer: "email_change_unusable", editor: "email_change_unusable", admin: "email_change_unusable",
	owner: "email_change_unusable", instanceAdmin: "email_change_unusable", keyWithScope: "email_change_unusable",
	keyWithoutScope: "email_change_unusable", otherMember: "email_change_unusable",
}

// unusableInvitation is the code every caller gets for a made-up token.
var unusableInvitation = map[principal]string{
	anonymous: "invitation_unusable", viewer: "invitation_unusable", editor: "invitation_unusable", admin: "invitation_unusable",
	owner: "invitation_unusable", instanceAdmin: "invitation_unusable", keyWithScope: "invitation_unusable",
	keyWithoutScope: "invitation_unusable", otherMember: "invitation_unusable",
}

// narrowKeyBody renames the victim key and keeps the one scope it holds.
func narrowKeyBody(*fixture) any {
	return map[string]any{"name": "narrowed", "scopes": []string{"content:read"}}
}

// notAnAPIKey is the code every person gets from a route only keys may use.
var notAnAPIKey = map[principal]string{
	viewer: "not_an_api_key", editor: "not_an_api_key", admin: "not_an_api_key", owner: "not_an_api_key",
	instanceAdmin: "not_an_api_key", otherMember: "not_an_api_key",
}

func createKeyBody(*fixture) any {
	return map[string]any{"name": "ci", "scopes": []string{"content:read"}}
}

func createWebhookBody(*fixture) any {
	return map[string]any{"url": "https://hooks.example.com/other", "events": []string{"form.created"}, "description": "CRM"}
}

func describeWebhookBody(*fixture) any { return map[string]string{"description": "Renamed endpoint"} }

func createFormBody(*fixture) any {
	return map[string]any{"name": "Survey", "fields": []map[string]string{{"name": "answer", "type": "text"}}}
}

func renameFormBody(*fixture) any { return map[string]string{"name": "Renamed form"} }

func fileSubmissionBody(*fixture) any { return map[string]string{"status": "read"} }

func erasureBody(*fixture) any { return map[string]string{"email": "ada@example.com"} }

func createEntryBody(*fixture) any {
	return map[string]any{"kind": "post", "title": "Release notes", "body": "# Notes\n\nAll new.", "tags": []string{"news"}}
}

func retitleEntryBody(*fixture) any { return map[string]string{"title": "Coming later"} }

func unpublishBody(*fixture) any { return map[string]string{"status": "draft"} }

func previewLinkBody(*fixture) any { return map[string]int{"expires_in": 3600} }

func translationBody(*fixture) any { return map[string]string{"locale": "fr"} }

func localesBody(*fixture) any {
	return map[string]any{"default_locale": "en", "fallbacks": map[string][]string{"fr-CA": {"fr"}}}
}

// submitBody fits the fixture's form (formWithSubmission).
func submitBody(*fixture) any { return map[string]string{"name": "Ada", "email": "ada@example.com"} }

// TestAuthorizationMatrix calls every route as every principal, each
// mutating cell on a database of its own, and checks the status and the
// problem document against the matrix.
func TestAuthorizationMatrix(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() { t.Logf("matrix ran in %s", time.Since(start).Round(time.Millisecond)) })

	t.Run("every_route_has_a_row", func(t *testing.T) {
		t.Parallel()
		var served []string
		e := engines[0]
		for _, r := range newStack(t, e, e.fresh(t), t.TempDir(), start).srv.Routes() {
			if r.Path == "/v1" || strings.HasPrefix(r.Path, "/v1/") {
				served = append(served, r.Method+" "+r.Path)
			}
		}
		var rows []string
		for _, r := range matrix {
			if slices.Contains(rows, r.route) {
				t.Errorf("%s has two rows", r.route)
			}
			rows = append(rows, r.route)
		}
		for _, s := range served {
			if !slices.Contains(rows, s) {
				t.Errorf("%s has no row in the matrix: say who may call it", s)
			}
		}
		for _, r := range rows {
			if !slices.Contains(served, r) {
				t.Errorf("%s is in the matrix but the router does not serve it", r)
			}
		}
	})

	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			templates := newTemplates(t, e)
			var shared [principals]*fixture
			for p := range principals {
				shared[p] = templates[p].copy(t)
			}
			for _, r := range matrix {
				t.Run(r.route, func(t *testing.T) {
					t.Parallel()
					for p := range principals {
						t.Run(p.String(), func(t *testing.T) {
							t.Parallel()
							f := shared[p]
							if !r.readOnly() {
								f = templates[p].copy(t)
							}
							checkResponse(t, f.call(t, r, p), r, p)
						})
					}
				})
			}
		})
	}
}

// TestMatrixIsWellFormed keeps the matrix to the statuses whose problem
// codes it checks and to the success statuses a valid body earns (202 for
// what a dispatcher does after the response: a webhook test, a
// redelivery), and to the scopes a key can be given, all of which the
// templates' keys hold.
func TestMatrixIsWellFormed(t *testing.T) {
	ok := []int{http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent}
	for _, r := range matrix {
		for p, s := range r.want {
			if _, isProblem := problemCodes[s]; !isProblem && !slices.Contains(ok, s) {
				t.Errorf("%s as %s: status %d is neither a success nor a checked problem", r.route, principal(p), s)
			}
		}
		if r.scope != "" && !slices.Contains(allScopes, r.scope) {
			t.Errorf("%s needs scope %q, which allScopes lacks", r.route, r.scope)
		}
	}
	var scopes []string
	for _, s := range domain.Scopes {
		scopes = append(scopes, s.String())
	}
	if !slices.Equal(slices.Sorted(slices.Values(allScopes)), slices.Sorted(slices.Values(scopes))) {
		t.Errorf("allScopes = %q, want every scope a key can be given: %q", allScopes, scopes)
	}
}
