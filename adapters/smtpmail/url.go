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

// starttls maps the starttls parameter to go-mail's policies.
var starttls = map[string]mail.TLSPolicy{"opportunistic": mail.TLSOpportunistic, "required": mail.TLSMandatory, "none": mail.NoTLS}

// errMalformed is the error for a URL that may hold credentials in the
// wrong place: it repeats no part of the URL.
var errMalformed = errors.New("mail URL is malformed: want smtp://user:password@host:port, with reserved characters (@ : / ? # %) in the user name and password percent-encoded")

// New returns a Mailer for the relay rawURL names:
//
//	smtp://[user[:password]@]host[:port][?starttls=opportunistic|required|none&from=…&timeout=…]
//	smtps://[user[:password]@]host[:port][?from=…&timeout=…]
//
// smtp:// defaults to port 25, the scheme's registered port (submission
// relays usually want :587 spelled out), and to opportunistic STARTTLS:
// upgrade when the relay offers it. smtps:// speaks TLS from the first byte
// and defaults to port 465. from sets the envelope sender (MAIL FROM, where
// bounces go) and defaults to each message's From. timeout is a Go duration
// bounding the connection and each command, 15s by default.
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

	var opts []mail.Option
	port := mail.DefaultPort
	switch u.Scheme {
	case "smtp":
	case "smtps":
		port = mail.DefaultPortSSL
		opts = append(opts, mail.WithSSL())
	default:
		return nil, bad("scheme %q is not supported: want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, bad("no host: want %s://host[:port]", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path %q", u.Path)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, bad("port %q is not between 1 and 65535", p)
		}
		port = n
	}
	opts = append(opts, mail.WithPort(port))

	m := &Mailer{redacted: redacted}
	q, _ := url.ParseQuery(u.RawQuery) // strayAt rejected what fails to parse
	for key := range q {
		if !slices.Contains([]string{"starttls", "from", "timeout"}, key) {
			return nil, bad("unknown parameter %q: want starttls, from or timeout", key)
		}
	}
	policy := mail.TLSOpportunistic
	if q.Has("starttls") {
		if u.Scheme == "smtps" {
			return nil, bad("starttls does not apply to smtps, which is TLS from the start")
		}
		var ok bool
		if policy, ok = starttls[q.Get("starttls")]; !ok {
			return nil, bad("starttls=%q: want opportunistic, required or none", q.Get("starttls"))
		}
	}
	if u.Scheme == "smtp" {
		opts = append(opts, mail.WithTLSPolicy(policy))
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
