package domain

import (
	"net/mail"
	"slices"
	"strings"
	"time"
)

// SenderStatus says whether a workspace's own sender (mail_from) is in
// use. It is closed: these variables are its only values.
type SenderStatus struct{ s string }

var (
	// SenderNone: the workspace has no sender of its own.
	SenderNone = SenderStatus{"none"}
	// SenderUnverified: nobody has checked the address yet; it was set
	// before Keel verified senders.
	SenderUnverified = SenderStatus{"unverified"}
	// SenderPending: a code was mailed to the address and not yet entered.
	SenderPending = SenderStatus{"pending"}
	// SenderVerified: the address is on a domain the instance allows, or
	// its owner entered the code mailed to it.
	SenderVerified = SenderStatus{"verified"}
)

// ParseSenderStatus accepts the stored spellings.
func ParseSenderStatus(s string) (SenderStatus, error) {
	for _, st := range []SenderStatus{SenderNone, SenderUnverified, SenderPending, SenderVerified} {
		if s == st.s {
			return st, nil
		}
	}
	return SenderStatus{}, Invalid(FieldError{"mail_from_status", "unknown_value", "Unknown sender status."})
}

func (s SenderStatus) String() string { return s.s }

// SenderCodeTTL is how long a code mailed to a new sender stays valid.
const SenderCodeTTL = 24 * time.Hour

// SenderCodeInterval is the least time between two codes for one
// workspace: each is a mail to an address its administrator chose, so
// setting the address in a loop must not turn Keel into a mail cannon.
const SenderCodeInterval = time.Minute

// maxSenderCodeLen bounds what ConfirmSender hashes; real codes are
// shorter.
const maxSenderCodeLen = 64

// NewSenderCode returns a fresh confirmation code for a sender and the
// hash to store: 160 random bits, so that guessing is hopeless and no
// attempt counter is needed.
func NewSenderCode() (code string, hash []byte) {
	code = randomToken(20)
	return code, HashSecret(code)
}

// HashSenderCode hashes a code entered by a person, after bounding its
// length so that the hash costs nothing a caller controls.
func HashSenderCode(code string) ([]byte, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > maxSenderCodeLen {
		return nil, ErrSenderCodeInvalid
	}
	return HashSecret(code), nil
}

// SenderDomains are the domains the instance administrator lets every
// workspace send from without confirming the address. A domain matches
// exactly: allowing example.com does not allow mail.example.com.
type SenderDomains struct{ domains []string }

// ParseSenderDomains reads a list of domain names, such as
// KEEL_MAIL_FROM_DOMAINS split at commas. Names are lower-cased; empty
// ones are skipped.
func ParseSenderDomains(names []string) (SenderDomains, error) {
	var d SenderDomains
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		if len(n) > 253 || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".") || strings.Contains(n, "..") || strings.ContainsAny(n, "@ <>,;\"\\/\r\n\t") {
			return SenderDomains{}, Invalid(FieldError{"mail_from_domains", "invalid_domain", "Use domain names such as example.com."})
		}
		if !slices.Contains(d.domains, n) {
			d.domains = append(d.domains, n)
		}
	}
	return d, nil
}

// With returns d with the domain of the address from added, so that the
// instance's own sender is always allowed.
func (d SenderDomains) With(from string) SenderDomains {
	if dom, ok := addressDomain(from); ok && !slices.Contains(d.domains, dom) {
		d.domains = append(slices.Clip(d.domains), dom)
	}
	return d
}

// Allows reports whether from, one address as ParseMailFrom accepts it,
// is on one of the domains.
func (d SenderDomains) Allows(from string) bool {
	dom, ok := addressDomain(from)
	return ok && slices.Contains(d.domains, dom)
}

// Domains lists the domains, for a start-up log.
func (d SenderDomains) Domains() []string { return slices.Clone(d.domains) }

func addressDomain(from string) (string, bool) {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return "", false
	}
	i := strings.LastIndexByte(a.Address, '@')
	if i < 0 {
		return "", false
	}
	return strings.ToLower(a.Address[i+1:]), true
}

// Errors of sender verification.
var (
	ErrSenderCodeInvalid = E(KindInvalid, "mail_from_code_invalid", "This code is wrong or has expired; set mail_from again to get a new one.")
	ErrSenderNotPending  = E(KindConflict, "mail_from_not_pending", "The workspace has no sender waiting for confirmation.")
	ErrSenderCodeTooSoon = E(KindRateLimited, "rate_limited", "A code was mailed to this workspace's sender less than a minute ago; try again later.")
)

// KindSenderCode is the kind of the message that carries a sender's
// confirmation code.
const KindSenderCode = "sender_code"
