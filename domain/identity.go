package domain

import (
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Typed identifiers. Each is a prefixed, time-sortable string made by
// NewID; the prefix tells a reader of a log which kind of thing it names.
type (
	WorkspaceID string
	UserID      string
	APIKeyID    string
	SessionID   string
	AuditID     string
)

// ID prefixes, also what ValidID checks.
const (
	PrefixWorkspace = "ws"
	PrefixUser      = "usr"
	PrefixAPIKey    = "key"
	PrefixSession   = "ses"
	PrefixAudit     = "aud"
)

func (id WorkspaceID) String() string { return string(id) }
func (id UserID) String() string      { return string(id) }
func (id APIKeyID) String() string    { return string(id) }

// Email is an e-mail address in canonical form: the bare address, lower
// case. Keel treats addresses as case-insensitive, as users do, so the
// canonical form is what uniqueness is decided on.
type Email string

// ParseEmail accepts a bare address ("Alice@Example.com") and returns its
// canonical form. Display names ("Alice <a@example.com>") are refused: an
// account's e-mail is an address, not a mailbox line.
func ParseEmail(field, s string) (Email, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", Invalid(FieldError{field, "invalid_email", "Enter an e-mail address such as name@example.com."})
	}
	return Email(strings.ToLower(a.Address)), nil
}

func (e Email) String() string { return string(e) }

// checkName validates a display name: 1 to 100 characters on one line,
// without control characters (NUL, ESC, …) or bidirectional overrides,
// which would corrupt or disguise the name wherever it is shown: lists,
// audit events, mail.
func checkName(field, s string) (string, *FieldError) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n == 0 || n > 100 || !utf8.ValidString(s) || strings.ContainsFunc(s, unprintableInName) {
		return "", &FieldError{field, "invalid_name", "Use 1 to 100 characters on one line, without control characters."}
	}
	return s, nil
}

// unprintableInName reports the runes a name may not hold: control
// characters (tabs and line breaks included), the Unicode line and
// paragraph separators, and the bidirectional embeddings, overrides and
// isolates that can make a name read as another. Other format characters,
// such as the zero-width joiners some scripts and emoji need, are allowed.
func unprintableInName(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// UserStatus is closed: these variables are its only values.
type UserStatus struct{ s string }

var (
	UserActive   = UserStatus{"active"}
	UserDisabled = UserStatus{"disabled"}
)

// ParseUserStatus accepts the wire and stored spellings.
func ParseUserStatus(s string) (UserStatus, error) {
	switch s {
	case UserActive.s, UserDisabled.s:
		return UserStatus{s}, nil
	}
	return UserStatus{}, Invalid(FieldError{"status", "unknown_value", "Use active or disabled."})
}

func (s UserStatus) String() string { return s.s }

// User is a person who logs in.
type User struct {
	id            UserID
	email         Email
	name          string
	passwordHash  string
	status        UserStatus
	instanceAdmin bool
	// canCreateWorkspaces is an instance administrator's leave for this
	// user to create workspaces when only administrators may.
	canCreateWorkspaces bool
	createdAt           time.Time
}

// NewUserInput carries the raw fields of a new user.
type NewUserInput struct {
	Email, Name string
	// PasswordHash is the already-hashed password: hashing is an adapter's
	// job, and the domain never sees a plain password it could leak.
	PasswordHash  string
	InstanceAdmin bool
}

// NewUser validates in and returns an active user created at now.
func NewUser(in NewUserInput, now time.Time) (User, error) {
	var errs []FieldError
	email, err := ParseEmail("email", in.Email)
	if err != nil {
		errs = append(errs, err.(*Error).Fields...)
	}
	name, ferr := checkName("name", in.Name)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if len(errs) > 0 {
		return User{}, Invalid(errs...)
	}
	return User{
		id: UserID(NewID(PrefixUser, now)), email: email, name: name, passwordHash: in.PasswordHash,
		status: UserActive, instanceAdmin: in.InstanceAdmin, createdAt: Timestamp(now),
	}, nil
}

// RehydrateUser rebuilds a stored user.
func RehydrateUser(id UserID, email Email, name, passwordHash string, status UserStatus, instanceAdmin bool, createdAt time.Time) User {
	return User{id: id, email: email, name: name, passwordHash: passwordHash, status: status, instanceAdmin: instanceAdmin, createdAt: createdAt.UTC()}
}

func (u User) ID() UserID            { return u.id }
func (u User) Email() Email          { return u.email }
func (u User) Name() string          { return u.name }
func (u User) PasswordHash() string  { return u.passwordHash }
func (u User) Status() UserStatus    { return u.status }
func (u User) IsInstanceAdmin() bool { return u.instanceAdmin }
func (u User) CreatedAt() time.Time  { return u.createdAt }

// Active reports whether the user may sign in and act: enabled, and not
// an invitation still waiting for its first password.
func (u User) Active() bool { return u.status == UserActive && !u.Invited() }

// Invited reports whether the account was made by an invitation and has
// no password yet: its hash is empty, which no password matches, and the
// invitation's link (a password reset) sets the first one.
func (u User) Invited() bool { return u.passwordHash == "" }

// CanCreateWorkspaces reports whether an instance administrator allowed
// the user to create workspaces; administrators themselves always may.
func (u User) CanCreateWorkspaces() bool { return u.canCreateWorkspaces }

// SetCanCreateWorkspaces grants or withdraws the leave to create
// workspaces.
func (u *User) SetCanCreateWorkspaces(ok bool) { u.canCreateWorkspaces = ok }

// SetPasswordHash replaces the stored hash, after a password change or when
// hashing parameters were raised and the hash is recomputed at login.
func (u *User) SetPasswordHash(h string) { u.passwordHash = h }

// SetEmail moves the user to a confirmed new address; the store refuses
// one another account has (ErrEmailTaken).
func (u *User) SetEmail(e Email) { u.email = e }

// Reinvite gives a still invited account the name and instance
// administrator flag of a newer invitation of its address, since the
// administrator who invites again means what the new invitation says;
// from is valid, made by NewUser.
func (u *User) Reinvite(from User) { u.name, u.instanceAdmin = from.name, from.instanceAdmin }

// SetStatus enables or disables the user. Disabling cuts every session and
// API key the user made at once, because authentication checks it.
func (u *User) SetStatus(s UserStatus) { u.status = s }

// Workspace is a tenant: one website or brand. Every piece of data belongs
// to exactly one workspace.
type Workspace struct {
	id       WorkspaceID
	name     string
	slug     string
	mailFrom string // "" sends the workspace's mail from the instance's sender
	// sender says whether mailFrom is in use; while it is pending,
	// codeHash is the hash of the code mailed to it at codeSentAt.
	sender     SenderStatus
	codeHash   []byte
	codeSentAt *time.Time
	// publicOrigins are the browser origins whose scripts may read the
	// workspace's public content API; "*" is any origin.
	publicOrigins []string
	// rateLimits are the workspace's own request quotas.
	rateLimits RateLimits
	createdAt  time.Time
}

// AnyOrigin in a workspace's public origins lets scripts on every site
// read its public content, which is the default: published content is
// public by definition.
const AnyOrigin = "*"

// MaxPublicOrigins bounds the public origins of one workspace.
const MaxPublicOrigins = 50

// ParsePublicOrigins checks the origins allowed to read a workspace's
// public API: "*" alone, or origins like "https://www.example.com"
// (scheme, host and optional port; no path). An empty list lets no other
// origin read it. Origins are lower-cased and deduplicated.
func ParsePublicOrigins(in []string) ([]string, error) {
	bad := Invalid(FieldError{"public_origins", "invalid_origin", `Use ["*"], or up to 50 origins such as "https://www.example.com".`})
	if len(in) > MaxPublicOrigins {
		return nil, bad
	}
	out := make([]string, 0, len(in))
	for _, o := range in {
		o = strings.ToLower(strings.TrimSpace(o))
		if o == AnyOrigin {
			if len(in) != 1 {
				return nil, bad
			}
			return []string{AnyOrigin}, nil
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, bad
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ParseSlug checks a URL-safe workspace slug: 1 to 63 lower-case letters,
// digits and inner hyphens, like a DNS label, so it fits in a host name too.
// A slug that could be mistaken for a workspace ID is refused, because
// {ws} in paths accepts either.
func ParseSlug(s string) (string, error) {
	if !slugPattern.MatchString(s) || strings.HasPrefix(s, PrefixWorkspace+"_") {
		return "", Invalid(FieldError{"slug", "invalid_slug", "Use 1 to 63 lower-case letters, digits and hyphens, not at either end."})
	}
	return s, nil
}

// maxMailFromLen bounds a workspace's sender: an address (at most 254
// bytes) and a display name of any sensible length.
const maxMailFromLen = 320

// ParseMailFrom checks a workspace's sender, one RFC 5322 address such as
// "Acme <hello@acme.test>" or a bare address, and returns it trimmed; ""
// is valid and means the instance's sender. It is checked here, not when
// mail is composed, because a sender that fails then would fail every
// submission of the workspace with a 422 the visitor cannot fix.
func ParseMailFrom(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	// ParseAddress takes folded header syntax; a line break here would
	// still be a header injection once written into From.
	if len(s) > maxMailFromLen || strings.ContainsAny(s, "\r\n") {
		return "", Invalid(errMailFrom)
	}
	if _, err := mail.ParseAddress(s); err != nil {
		return "", Invalid(errMailFrom)
	}
	return s, nil
}

var errMailFrom = FieldError{"mail_from", "invalid_address", `Use one e-mail address, such as "Acme <hello@acme.test>", or "" for the instance's sender.`}

// NewWorkspace validates and returns a workspace created at now. It sends
// mail from the instance's sender until Update gives it its own.
func NewWorkspace(name, slug string, now time.Time) (Workspace, error) {
	w := Workspace{id: WorkspaceID(NewID(PrefixWorkspace, now)), sender: SenderNone, publicOrigins: []string{AnyOrigin}, createdAt: Timestamp(now)}
	if err := w.Update(WorkspaceChange{Name: &name, Slug: &slug}); err != nil {
		return Workspace{}, err
	}
	return w, nil
}

// WorkspaceChange lists the workspace settings to change; nil leaves one
// as it is.
type WorkspaceChange struct {
	Name, Slug *string
	// MailFrom "" returns to the instance's sender. Another address is
	// unverified until VerifySender or AwaitSenderCode; setting the
	// current address again makes it unverified unless it is verified.
	MailFrom *string
	// PublicOrigins replaces the origins allowed to read the public API.
	PublicOrigins *[]string
	// APIKeyRateLimit and SessionRateLimit replace the workspace's
	// quotas per minute; 0 returns to the instance's default.
	APIKeyRateLimit, SessionRateLimit *int
}

// Update applies c all or nothing, reporting every invalid setting at once.
func (w *Workspace) Update(c WorkspaceChange) error {
	var errs []FieldError
	n, s, from, origins := w.name, w.slug, w.mailFrom, w.publicOrigins
	if c.Name != nil {
		var ferr *FieldError
		if n, ferr = checkName("name", *c.Name); ferr != nil {
			errs = append(errs, *ferr)
		}
	}
	if c.Slug != nil {
		var err error
		if s, err = ParseSlug(*c.Slug); err != nil {
			errs = append(errs, err.(*Error).Fields...)
		}
	}
	if c.MailFrom != nil {
		var err error
		if from, err = ParseMailFrom(*c.MailFrom); err != nil {
			errs = append(errs, err.(*Error).Fields...)
		}
	}
	if c.PublicOrigins != nil {
		var err error
		if origins, err = ParsePublicOrigins(*c.PublicOrigins); err != nil {
			errs = append(errs, err.(*Error).Fields...)
		}
	}
	limits := w.rateLimits
	for _, l := range []struct {
		field string
		in    *int
		out   *int
	}{{"rate_limits.api_key", c.APIKeyRateLimit, &limits.APIKey}, {"rate_limits.session", c.SessionRateLimit, &limits.Session}} {
		if l.in == nil {
			continue
		}
		if ferr := checkRateLimit(l.field, *l.in); ferr != nil {
			errs = append(errs, *ferr)
		}
		*l.out = *l.in
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	if c.MailFrom != nil && (from != w.mailFrom || w.sender != SenderVerified) {
		w.sender, w.codeHash, w.codeSentAt = SenderUnverified, nil, nil
		if from == "" {
			w.sender = SenderNone
		}
	}
	w.name, w.slug, w.mailFrom, w.publicOrigins, w.rateLimits = n, s, from, origins, limits
	return nil
}

// VerifySender marks an unverified sender verified when allowed lists its
// domain, and reports whether the sender is verified.
func (w *Workspace) VerifySender(allowed SenderDomains) bool {
	if w.sender == SenderUnverified && allowed.Allows(w.mailFrom) {
		w.sender = SenderVerified
	}
	return w.sender == SenderVerified
}

// AwaitSenderCode makes an unverified sender pending on the code whose
// hash is codeHash, mailed at now. A workspace gets at most one code per
// SenderCodeInterval; last is when it got the one before, if any.
func (w *Workspace) AwaitSenderCode(codeHash []byte, last *time.Time, now time.Time) error {
	if w.sender != SenderUnverified {
		return ErrSenderNotPending
	}
	if last != nil && now.Sub(*last) < SenderCodeInterval {
		return ErrSenderCodeTooSoon
	}
	at := Timestamp(now)
	w.sender, w.codeHash, w.codeSentAt = SenderPending, slices.Clone(codeHash), &at
	return nil
}

// ConfirmSender verifies a pending sender when codeHash is the hash of the
// code mailed to it and the code has not expired; the code works once.
func (w *Workspace) ConfirmSender(codeHash []byte, now time.Time) error {
	if w.sender != SenderPending || w.codeSentAt == nil {
		return ErrSenderNotPending
	}
	if !SameHash(codeHash, w.codeHash) || !now.Before(w.codeSentAt.Add(SenderCodeTTL)) {
		return ErrSenderCodeInvalid
	}
	w.sender, w.codeHash = SenderVerified, nil
	return nil
}

// StoredSender is a workspace's sender verification as storage keeps it.
type StoredSender struct {
	Status     SenderStatus
	CodeHash   []byte
	CodeSentAt *time.Time
}

// RehydrateWorkspace rebuilds a stored workspace.
func RehydrateWorkspace(id WorkspaceID, name, slug, mailFrom string, sender StoredSender, publicOrigins []string, createdAt time.Time) Workspace {
	return Workspace{
		id: id, name: name, slug: slug, mailFrom: mailFrom,
		sender: sender.Status, codeHash: slices.Clone(sender.CodeHash), codeSentAt: utcPtr(sender.CodeSentAt),
		publicOrigins: slices.Clone(publicOrigins), createdAt: createdAt.UTC(),
	}
}

func (w Workspace) ID() WorkspaceID  { return w.id }
func (w Workspace) Name() string     { return w.name }
func (w Workspace) Slug() string     { return w.slug }
func (w Workspace) MailFrom() string { return w.mailFrom }

// SenderStatus says whether MailFrom is in use.
func (w Workspace) SenderStatus() SenderStatus { return w.sender }

// StoredSender returns the sender's verification for storage.
func (w Workspace) StoredSender() StoredSender {
	return StoredSender{Status: w.sender, CodeHash: slices.Clone(w.codeHash), CodeSentAt: w.codeSentAt}
}

// PublicOrigins are the origins allowed to read the public API.
func (w Workspace) PublicOrigins() []string { return slices.Clone(w.publicOrigins) }

// AllowsPublicOrigin reports whether a script on origin may read the
// workspace's public API.
func (w Workspace) AllowsPublicOrigin(origin string) bool {
	return slices.Contains(w.publicOrigins, AnyOrigin) || slices.Contains(w.publicOrigins, strings.ToLower(origin))
}
func (w Workspace) CreatedAt() time.Time { return w.createdAt }

// Sender returns the From of the workspace's mail: its own sender once it
// is verified, else instanceDefault. An unverified address would let any
// workspace administrator send mail in someone else's name.
func (w Workspace) Sender(instanceDefault string) string {
	if w.mailFrom != "" && w.sender == SenderVerified {
		return w.mailFrom
	}
	return instanceDefault
}

// Errors of the identity rules.
var (
	ErrEmailTaken       = E(KindConflict, "email_taken", "An account with this e-mail address exists.")
	ErrSlugTaken        = E(KindConflict, "slug_taken", "Another workspace uses this slug.")
	ErrLastOwner        = E(KindConflict, "last_owner", "A workspace must keep at least one owner.")
	ErrAlreadyMember    = E(KindConflict, "already_member", "This user is already a member of the workspace.")
	ErrAlreadySetUp     = E(KindConflict, "already_set_up", "This instance is already set up; log in instead.")
	ErrInvalidCreds     = E(KindUnauthenticated, "invalid_credentials", "The e-mail address or password is wrong.")
	ErrRateLimited      = E(KindRateLimited, "rate_limited", "Too many attempts; try again later.")
	ErrWorkspaceUnknown = ErrNotFound.WithMessage("No such workspace.")

	ErrWorkspaceCreationNotAllowed = E(KindForbidden, "workspace_creation_not_allowed", "Only instance administrators and the users they allow can create workspaces.")
)
