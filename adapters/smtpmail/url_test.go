package smtpmail

import (
	"strings"
	"testing"
)

// secret is the password in every test URL; no error or String may show it.
const secret = "s3cr3tpw"

func TestNew(t *testing.T) {
	t.Parallel()
	good := []struct {
		url, addr string
		sec       security
		str       string
		envelope  string
	}{
		{url: "smtp://mail.example.com", addr: "mail.example.com:25", sec: opportunistic, str: "smtp://mail.example.com"},
		{url: "smtp://mail.example.com:587?tls=starttls", addr: "mail.example.com:587", sec: startTLS, str: "smtp://mail.example.com:587?tls=starttls"},
		{url: "smtp://mail.example.com?tls=implicit", addr: "mail.example.com:465", sec: implicitTLS, str: "smtp://mail.example.com?tls=implicit"},
		{url: "smtp://mail.example.com:2465?tls=implicit", addr: "mail.example.com:2465", sec: implicitTLS, str: "smtp://mail.example.com:2465?tls=implicit"},
		{url: "smtp://localhost:1025?tls=none", addr: "localhost:1025", sec: plain, str: "smtp://localhost:1025?tls=none"},
		// Port 465 speaks only TLS, so it implies implicit TLS unless told otherwise.
		{url: "smtp://mail.example.com:465", addr: "mail.example.com:465", sec: implicitTLS, str: "smtp://mail.example.com:465"},
		{url: "smtp://mail.example.com:465?tls=starttls", addr: "mail.example.com:465", sec: startTLS, str: "smtp://mail.example.com:465?tls=starttls"},
		{url: "smtps://mail.example.com?tls=implicit", addr: "mail.example.com:465", sec: implicitTLS, str: "smtps://mail.example.com?tls=implicit"},
		// The older starttls spelling still works.
		{url: "SMTP://mail.example.com:587/?starttls=required", addr: "mail.example.com:587", sec: startTLS, str: "smtp://mail.example.com:587/?starttls=required"},
		{url: "smtp://localhost:1025?starttls=none", addr: "localhost:1025", sec: plain, str: "smtp://localhost:1025?starttls=none"},
		{url: "smtp://127.0.0.1:2525?starttls=opportunistic&timeout=3s", addr: "127.0.0.1:2525", sec: opportunistic, str: "smtp://127.0.0.1:2525?starttls=opportunistic&timeout=3s"},
		{
			url:  "smtp://apikey:" + secret + "@smtp.example.com:587?from=bounces%2Bkeel@example.com",
			addr: "smtp.example.com:587", sec: opportunistic, envelope: "bounces+keel@example.com",
			str: "smtp://apikey:xxxxx@smtp.example.com:587?from=bounces%2Bkeel@example.com",
		},
		// A password with reserved characters, percent-encoded as required.
		{url: "smtps://user%40example.com:" + secret + "%2F%3F%23%40@smtp.example.com", addr: "smtp.example.com:465", sec: implicitTLS, str: "smtps://user%40example.com:xxxxx@smtp.example.com"},
		{url: "smtps://smtp.example.com:2465", addr: "smtp.example.com:2465", sec: implicitTLS, str: "smtps://smtp.example.com:2465"},
		// IPv6 literals keep their brackets.
		{url: "smtp://[::1]:1025", addr: "::1:1025", sec: opportunistic, str: "smtp://[::1]:1025"},
	}
	for _, tc := range good {
		t.Run("Good/"+tc.url, func(t *testing.T) {
			t.Parallel()
			m, err := New(tc.url)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := m.client.ServerAddr(); got != tc.addr {
				t.Errorf("server = %q, want %q", got, tc.addr)
			}
			if m.security != tc.sec {
				t.Errorf("security = %q, want %q", m.security, tc.sec)
			}
			// go-mail consults its STARTTLS policy only without implicit TLS.
			if want, ok := map[security]string{startTLS: "TLSMandatory", opportunistic: "TLSOpportunistic", plain: "NoTLS"}[tc.sec]; ok {
				if got := m.client.TLSPolicy(); got != want {
					t.Errorf("TLS policy = %q, want %q", got, want)
				}
			}
			if got := m.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
			var env string
			if m.envelope != nil {
				env = m.envelope.Address
			}
			if env != tc.envelope {
				t.Errorf("envelope sender = %q, want %q", env, tc.envelope)
			}
		})
	}

	bad := []struct{ name, url, want string }{
		{"Empty", "", `scheme ""`},
		{"NoScheme", "mail.example.com:587", `scheme "mail.example.com"`},
		{"BadScheme", "https://user:" + secret + "@mail.example.com", `scheme "https" is not supported`},
		{"MissingHost", "smtp://", "no host"},
		{"MissingHostWithPort", "smtp://user:" + secret + "@:587", "no host"},
		{"OpaqueHost", "smtp:mail.example.com", "no host"},
		{"PortNotNumber", "smtp://mail.example.com:smtp", `invalid port ":smtp"`},
		{"PortZero", "smtp://user:" + secret + "@mail.example.com:0", `port "0"`},
		{"PortTooBig", "smtp://user:" + secret + "@mail.example.com:65536", `port "65536"`},
		{"Path", "smtp://mail.example.com/relay", `unexpected path "/relay"`},
		{"StartTLSBadValue", "smtp://user:" + secret + "@mail.example.com?starttls=yes", `starttls="yes"`},
		{"StartTLSEmpty", "smtp://mail.example.com?starttls=", `starttls=""`},
		{"StartTLSWithSMTPS", "smtps://mail.example.com?starttls=required", "starttls does not apply to smtps"},
		{"TLSBadValue", "smtp://user:" + secret + "@mail.example.com?tls=required", `tls="required": want starttls, implicit or none`},
		{"TLSEmpty", "smtp://mail.example.com?tls=", `tls="": want starttls, implicit or none`},
		{"TLSStartTLSWithSMTPS", "smtps://mail.example.com?tls=starttls", `tls="starttls" does not apply to smtps`},
		{"TLSNoneWithSMTPS", "smtps://mail.example.com?tls=none", `tls="none" does not apply to smtps`},
		{"TLSAndStartTLS", "smtp://mail.example.com?tls=starttls&starttls=required", "tls and starttls both given"},
		{"UnknownParameter", "smtp://mail.example.com?startls=required", `unknown parameter "startls"`},
		{"BadFrom", "smtp://mail.example.com?from=bounces", `from="bounces"`},
		{"MalformedParameters", "smtp://mail.example.com?from=%zz", "malformed"},
		{"BadTimeout", "smtp://mail.example.com?timeout=soon", `timeout="soon"`},
		{"NegativeTimeout", "smtp://mail.example.com?timeout=-1s", `timeout="-1s"`},
		// Unencoded reserved characters in a password make url.Parse read
		// pieces of it as port, path, query or fragment.
		{"PasswordWithSlash", "smtp://user:" + secret + "/x@mail.example.com", "malformed"},
		{"PasswordWithDigitsAndSlash", "smtp://user:4711/" + secret + "@mail.example.com", "malformed"},
		{"PasswordWithQuestionMark", "smtp://user:4711?" + secret + "@mail.example.com", "malformed"},
		{"PasswordWithHash", "smtp://user:4711#" + secret + "@mail.example.com", "malformed"},
		{"PasswordWithBadEscape", "smtp://user:" + secret + "%zz@mail.example.com", "malformed"},
		{"PasswordWithSpace", "smtp://user:" + secret + " x@mail.example.com", "malformed"},
	}
	for _, tc := range bad {
		t.Run("Bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := New(tc.url)
			if err == nil {
				t.Fatalf("New(%q) = %v, want an error", tc.url, m)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("err = %q, want it to contain %q", msg, tc.want)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "4711") {
				t.Errorf("err = %q shows the password", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("err = %q is not one line", msg)
			}
		})
	}
}
