package webhookhttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keelhq/keel/domain"
)

// TestRefusalIsForbidden: the dispatcher ends a delivery for good when
// domain.KindOf its error is KindForbidden, so both refusals must be, and
// still match their sentinels; a failure a retry may cure (here a
// redirect) must not be.
func TestRefusalIsForbidden(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, newFakeDNS(testHosts), Options{AllowNetworks: loopbackOnly})
	refusals := map[string]error{
		"http://receiver.test/hook":       ErrScheme,  // http:// not allowed
		"https://metadata.test/latest/":   ErrRefused, // link-local
		"https://intranet.test/hook":      ErrRefused, // private
		"https://[::ffff:10.0.0.1]/hook":  ErrRefused, // IPv4-mapped private literal
		"ftp://receiver.test/not-a-hook/": ErrScheme,
	}
	for url, sentinel := range refusals {
		_, err := c.Post(t.Context(), url, signed("{}"), []byte("{}"))
		if !errors.Is(err, sentinel) {
			t.Errorf("Post(%s) = %v, want %v", url, err, sentinel)
		}
		if k := domain.KindOf(err); k != domain.KindForbidden {
			t.Errorf("Post(%s): KindOf = %s, want forbidden (%v)", url, k, err)
		}
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://receiver.test/elsewhere", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	c, _ = newTestClient(t, newFakeDNS(testHosts), Options{AllowNetworks: loopbackOnly, AllowHTTP: true})
	_, err := c.Post(t.Context(), srv.URL, signed("{}"), []byte("{}"))
	if !errors.Is(err, ErrRedirect) || domain.KindOf(err) == domain.KindForbidden {
		t.Errorf("Post to a redirecting receiver = %v (kind %s), want ErrRedirect and not forbidden", err, domain.KindOf(err))
	}
}
