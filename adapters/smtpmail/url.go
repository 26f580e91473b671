package smtpmail

import (
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// defaultTimeout bounds connecting and each SMTP command; a relay slower
// than that is treated as unavailable and the message retried.
const defaultTimeout = 15 * time.Second

// security is how a Mailer protects its connection to the relay.
type security string

const (
	implicitTLS   security = "implicit"      // TLS from the first byte (smtps, port 465)
	startTLS      security = "starttls"      // STARTTLS, and no mail without it
	opportunistic security = "opportunistic" // STARTTLS when the relay offers it
	plain         security = "none"          // never TLS, for local relays such as Mailpit
)

// tlsModes are the values of the tls parameter, the primary spelling.
var tlsModes = map[string]security{"starttls": startTLS, "implicit": implicitTLS, "none": plain}

// starttlsModes are the values of the older starttls parameter. It stays
// because deployed URLs use it, and it is the only way to spell
// opportunistic STARTTLS explicitly.
var starttlsModes = map[string]security{"opportunistic": opportunistic, "required": startTLS, "none": plain}

// policies maps the modes that speak plain SMTP first to go-mail's policies.
var policies = map[security]mail.TLSPolicy{startTLS: mail.TLSMandatory, opportunistic: mail.TLSOpportunistic, plain: mail.NoTLS}

// errMalformed is the error for a URL that may hold credentials in the
// wrong place: it repeats no part of the URL.
var errMalformed = errors.New("mail URL is malformed: want smtp://user:password@host:port, with reserved characters (@ : / ? # %) in the user name and password percent-encoded")

// New returns a Mailer for the relay rawURL names:
//
//	smtp://[user[:password]@]host[:port][?tls=starttls|implicit|none&from=…&timeout=…]
//	smtps://[user[:password]@]host[:port][?from=…&timeout=…]
//
// tls=starttls requires STARTTLS and sends nothing over a relay that does
// not offer it; tls=implicit speaks TLS from the first byte, as smtps://
// does; tls=none never uses TLS. Without tls, smtp:// on port 465 means
// implicit TLS, since that port speaks nothing else, and smtp:// on any
// other port means opportunistic STARTTLS: upgrade when the relay offers
// it. The older starttls=required|opportunistic|none is still accepted as
// an alias (required is tls=starttls) but not together with tls.
//
// smtp:// defaults to port 25, the scheme's registered port (submission
// relays usually want :587 spelled out), or to 465 with tls=implicit.
// smtps:// defaults to port 465 and accepts only tls=implicit. from sets
// the envelope sender (MAIL FROM, where bounces go) and defaults to each
// message's From. timeout is a Go duration bounding the connection and
// each command, 15s by default.
//
// With a user name, Send logs in with the strongest mechanism the relay
// offers, and with PLAIN or LOGIN, which show the password to anyone on the
// path, only over TLS: a relay without TLS that offers nothing else fails
// every Send with an unavailable error rather than learn the password.
//
// A URL New cannot use returns an error naming the problem, with the
// password masked, ready to be printed as one line.
func New(rawURL string) (*Mailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL and its inner errors quote pieces of
		// it, which is harmless only when there is no user info to leak.
		var ue *url.Error
		if !strings.Contains(rawURL, "@") && errors.As(err, &ue) {
			return nil, fmt.Errorf("mail URL %q: %w", rawURL, ue.Err)
		}
		return nil, errMalformed
	}
	if strayAt(u) {
		return nil, errMalformed
	}
	redacted := u.Redacted()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mail URL %q: %s", redacted, fmt.Sprintf(format, args...))
	}

	switch u.Scheme {
	case "smtp", "smtps":
	default:
		return nil, bad("scheme %q is not supported: want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, bad("no host: want %s://host[:port]", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path %q", u.Path)
	}
	port := 0
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, bad("port %q is not between 1 and 65535", p)
		}
		port = n
	}

	m := &Mailer{redacted: redacted, pool: newPool(maxIdle, idleTimeout)}
	q, _ := url.ParseQuery(u.RawQuery) // strayAt rejected what fails to parse
	for key := range q {
		if !slices.Contains([]string{"tls", "starttls", "from", "timeout"}, key) {
			return nil, bad("unknown parameter %q: want tls, from or timeout", key)
		}
	}
	if m.security, err = securityOf(u.Scheme, port, q); err != nil {
		return nil, bad("%v", err)
	}
	if port == 0 {
		port = mail.DefaultPort
		if m.security == implicitTLS {
			port = mail.DefaultPortSSL
		}
	}
	// A session carries many messages, and neither NOOP before each nor
	// RSET after each is needed for that: a finished transaction leaves
	// the session ready for the next (RFC 5321 4.1.1.4), and a session the
	// relay dropped fails at MAIL FROM, before the message, where Send
	// retries it on a new one. Each would cost a round trip per message.
	opts := []mail.Option{mail.WithPort(port), mail.WithoutNoop(), mail.WithoutRset()}
	if m.security == implicitTLS {
		opts = append(opts, mail.WithSSL())
	} else {
		opts = append(opts, mail.WithTLSPolicy(policies[m.security]))
	}
	if v, ok := q["from"]; ok {
		a, err := netmail.ParseAddress(v[0])
		if err != nil {
			return nil, bad("from=%q is not an e-mail address", v[0])
		}
		m.envelope = a
	}
	timeout := defaultTimeout
	if v, ok := q["timeout"]; ok {
		d, err := time.ParseDuration(v[0])
		if err != nil || d <= 0 {
			return nil, bad("timeout=%q is not a positive duration such as 10s", v[0])
		}
		timeout = d
	}
	opts = append(opts, mail.WithTimeout(timeout))
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}

	// NewClient fails only on options already checked above; its errors
	// name no credentials.
	if m.client, err = mail.NewClient(u.Hostname(), opts...); err != nil {
		return nil, bad("%v", err)
	}
	return m, nil
}

// securityOf picks the connection's security from the scheme, the port (0
// when the URL names none) and the tls or starttls parameter. Its errors
// name the parameter and the accepted values.
func securityOf(scheme string, port int, q url.Values) (security, error) {
	if q.Has("tls") && q.Has("starttls") {
		return "", errors.New("tls and starttls both given: use tls alone")
	}
	if q.Has("tls") {
		mode, ok := tlsModes[q.Get("tls")]
		if !ok {
			return "", fmt.Errorf("tls=%q: want starttls, implicit or none", q.Get("tls"))
		}
		if scheme == "smtps" && mode != implicitTLS {
			return "", fmt.Errorf("tls=%q does not apply to smtps, which is TLS from the first byte: use smtp://", q.Get("tls"))
		}
		return mode, nil
	}
	if q.Has("starttls") {
		if scheme == "smtps" {
			return "", errors.New("starttls does not apply to smtps, which is TLS from the first byte")
		}
		mode, ok := starttlsModes[q.Get("starttls")]
		if !ok {
			return "", fmt.Errorf("starttls=%q: want opportunistic, required or none", q.Get("starttls"))
		}
		return mode, nil
	}
	if scheme == "smtps" || port == mail.DefaultPortSSL {
		return implicitTLS, nil
	}
	return opportunistic, nil
}

// strayAt reports whether u has an "@" outside its user info (other than
// in the from parameter) or a query that does not parse. Either is the mark
// of a password holding an unencoded "/", "?", "#" or "%": url.Parse then
// ends the user info early and reads the rest of the password as host,
// port, path, query or fragment, which error messages would repeat.
func strayAt(u *url.URL) bool {
	if strings.Contains(u.Opaque, "@") || strings.Contains(u.Path, "@") || strings.Contains(u.Fragment, "@") {
		return true
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return true // the error would quote the bad part
	}
	for key, values := range q {
		if strings.Contains(key, "@") {
			return true
		}
		if key != "from" && slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, "@") }) {
			return true
		}
	}
	return false
}
