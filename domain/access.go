package domain

import (
	"slices"
	"strings"
	"time"
)

// Role is a member's role in a workspace. Roles are ordered: each holds
// every permission of the roles below it.
type Role struct{ s string }

var (
	RoleViewer = Role{"viewer"}
	RoleEditor = Role{"editor"}
	RoleAdmin  = Role{"admin"}
	RoleOwner  = Role{"owner"}
)

// Roles lists the roles from the least to the most powerful.
var Roles = []Role{RoleViewer, RoleEditor, RoleAdmin, RoleOwner}

// ParseRole accepts the wire and stored spellings.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if r.s == s {
			return r, nil
		}
	}
	return Role{}, Invalid(FieldError{"role", "unknown_role", "Use owner, admin, editor or viewer."})
}

func (r Role) String() string { return r.s }
func (r Role) IsZero() bool   { return r.s == "" }

// AtLeast reports whether r holds every permission of o.
func (r Role) AtLeast(o Role) bool {
	return slices.Index(Roles, r) >= slices.Index(Roles, o)
}

// Permission is an action on a kind of object inside a workspace, written
// "object:action". Permissions that are also API key scopes are the only
// ones an API key can hold.
type Permission struct {
	Object, Action string
}

func (p Permission) String() string { return p.Object + ":" + p.Action }

// The permissions. Those listed in Scopes may also be granted to API keys.
var (
	PermFormsRead        = Permission{"forms", "read"}
	PermFormsWrite       = Permission{"forms", "write"}
	PermSubmissionsRead  = Permission{"submissions", "read"}
	PermSubmissionsWrite = Permission{"submissions", "write"}
	PermSubmissionsErase = Permission{"submissions", "erase"} // every submission holding an address, across forms
	PermContentRead      = Permission{"content", "read"}
	PermContentWrite     = Permission{"content", "write"}
	PermContentImport    = Permission{"content", "import"} // publish with a past date: an imported archive's history
	PermMediaRead        = Permission{"media", "read"}
	PermMediaWrite       = Permission{"media", "write"}
	PermWebhooksRead     = Permission{"webhooks", "read"}
	PermWebhooksWrite    = Permission{"webhooks", "write"}
	PermEventsRead       = Permission{"events", "read"} // the change feed: every resource's changes
	PermMembersRead      = Permission{"members", "read"}
	PermMembersWrite     = Permission{"members", "write"}

	PermWorkspaceRead   = Permission{"workspace", "read"}
	PermWorkspaceWrite  = Permission{"workspace", "write"}
	PermWorkspaceDelete = Permission{"workspace", "delete"}
	PermAPIKeysRead     = Permission{"api_keys", "read"}
	PermAPIKeysWrite    = Permission{"api_keys", "write"}
	PermAuditRead       = Permission{"audit", "read"}
	PermMessagesRead    = Permission{"messages", "read"}  // the mail outbox
	PermMessagesWrite   = Permission{"messages", "write"} // retry a message
	PermOwnersWrite     = Permission{"owners", "write"}   // grant or take the owner role
)

// Scopes are the permissions an API key may be given.
var Scopes = []Permission{
	PermFormsRead, PermFormsWrite, PermSubmissionsRead, PermSubmissionsWrite,
	PermContentRead, PermContentWrite, PermWebhooksRead, PermWebhooksWrite,
	PermMembersRead, PermMembersWrite, PermSubmissionsErase, PermEventsRead,
	PermContentImport, PermMediaRead, PermMediaWrite,
}

// IsScope reports whether p can be granted to an API key. Reading the
// workspace itself needs no scope: a key may always see what it belongs to.
func (p Permission) IsScope() bool { return slices.Contains(Scopes, p) }

// RolePermissions is the default policy: what each role may do. It seeds
// the authorizer's policy store; the roles are cumulative.
var RolePermissions = map[Role][]Permission{
	RoleViewer: {PermWorkspaceRead, PermFormsRead, PermSubmissionsRead, PermContentRead, PermMembersRead},
	RoleEditor: {PermFormsWrite, PermSubmissionsWrite, PermContentWrite, PermMediaRead, PermMediaWrite},
	RoleAdmin:  {PermWebhooksRead, PermWebhooksWrite, PermMembersWrite, PermWorkspaceWrite, PermAPIKeysRead, PermAPIKeysWrite, PermAuditRead, PermMessagesRead, PermMessagesWrite, PermSubmissionsErase, PermEventsRead, PermContentImport},
	RoleOwner:  {PermWorkspaceDelete, PermOwnersWrite},
}

// Allows reports whether r holds p under the default policy.
func (r Role) Allows(p Permission) bool {
	for _, lower := range Roles {
		if r.AtLeast(lower) && slices.Contains(RolePermissions[lower], p) {
			return true
		}
	}
	return false
}

// ParseScopes parses a list of "object:action" scopes, refusing unknown
// ones and duplicates, and requiring at least one.
func ParseScopes(ss []string) ([]Permission, error) {
	if len(ss) == 0 {
		return nil, Invalid(FieldError{"scopes", "required", "Give the key at least one scope."})
	}
	var out []Permission
	for _, s := range ss {
		obj, act, _ := strings.Cut(s, ":")
		p := Permission{obj, act}
		if !p.IsScope() {
			return nil, Invalid(FieldError{"scopes", "unknown_scope", "Unknown scope " + quote(s) + "."})
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func quote(s string) string {
	if len(s) > 40 {
		s = TruncateUTF8(s, 40) + "…"
	}
	return `"` + s + `"`
}

// Membership gives a user a role in a workspace.
type Membership struct {
	Workspace WorkspaceID
	User      UserID
	Role      Role
	CreatedAt time.Time
}

// PrincipalKind tells who is calling.
type PrincipalKind uint8

const (
	Anonymous PrincipalKind = iota
	UserPrincipal
	APIKeyPrincipal
)

// Principal is the authenticated caller, passed explicitly into every use
// case. A user principal acts with its memberships' roles; an API key acts
// with the intersection of its scopes and its creator's role in the key's
// workspace.
type Principal struct {
	kind          PrincipalKind
	user          UserID // the user, or the key's creator
	instanceAdmin bool
	session       SessionID
	key           APIKeyID
	keyWorkspace  WorkspaceID
	scopes        []Permission
	client        Client
}

// Client is where a request came from, for the audit log and rate limits.
type Client struct {
	IP        string
	UserAgent string
}

// WithClient returns p acting from c.
func (p Principal) WithClient(c Client) Principal {
	p.client = c
	return p
}

// Client returns where p's request came from.
func (p Principal) Client() Client { return p.client }

// AnonymousPrincipal is the caller without credentials.
var AnonymousPrincipal = Principal{}

// NewUserPrincipal is a person logged in with a session.
func NewUserPrincipal(u UserID, instanceAdmin bool, s SessionID) Principal {
	return Principal{kind: UserPrincipal, user: u, instanceAdmin: instanceAdmin, session: s}
}

// NewAPIKeyPrincipal is a caller holding an API key.
func NewAPIKeyPrincipal(k APIKeyID, ws WorkspaceID, creator UserID, scopes []Permission) Principal {
	return Principal{kind: APIKeyPrincipal, key: k, keyWorkspace: ws, user: creator, scopes: scopes}
}

func (p Principal) Kind() PrincipalKind       { return p.kind }
func (p Principal) IsAnonymous() bool         { return p.kind == Anonymous }
func (p Principal) IsAPIKey() bool            { return p.kind == APIKeyPrincipal }
func (p Principal) User() UserID              { return p.user }
func (p Principal) Session() SessionID        { return p.session }
func (p Principal) APIKey() APIKeyID          { return p.key }
func (p Principal) KeyWorkspace() WorkspaceID { return p.keyWorkspace }
func (p Principal) Scopes() []Permission      { return slices.Clone(p.scopes) }

// IsInstanceAdmin reports whether p is a person with the instance
// administrator flag. API keys never are, whoever made them.
func (p Principal) IsInstanceAdmin() bool { return p.kind == UserPrincipal && p.instanceAdmin }

// HasScope reports whether an API key principal was given scope perm.
func (p Principal) HasScope(perm Permission) bool { return slices.Contains(p.scopes, perm) }

// Subject is the principal's name in the authorization policy.
func (p Principal) Subject() string {
	switch p.kind {
	case UserPrincipal:
		return "user:" + string(p.user)
	case APIKeyPrincipal:
		return "key:" + string(p.key)
	}
	return "anonymous"
}

// Actor names the principal in the audit log.
func (p Principal) Actor() (kind, id string) {
	switch p.kind {
	case UserPrincipal:
		return "user", string(p.user)
	case APIKeyPrincipal:
		return "api_key", string(p.key)
	}
	return "anonymous", ""
}
