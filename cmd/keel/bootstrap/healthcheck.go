package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// healthcheckTimeout bounds the whole probe by default: Docker runs the
// HEALTHCHECK every 30 s and counts a probe that hangs as a failure anyway,
// and a node that takes longer than this to say it is ready is not.
const healthcheckTimeout = 3 * time.Second

// maxProbeBody bounds what the probe reads of an answer: /readyz answers
// a few dozen bytes, so anything longer is not Keel.
const maxProbeBody = 4 << 10

func newHealthcheckCommand(getenv func(string) string) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local keel serve is ready, 1 otherwise",
		Long: `Healthcheck asks the keel serve on this machine whether it is ready, by
GET /readyz on the address serve listens on (KEEL_HTTP_ADDR; an address on
every interface such as :8080 is asked on 127.0.0.1). It exits 0 when the
answer is 200, and 1 with one line saying why otherwise: for container
HEALTHCHECKs and supervisors in images that have no curl or shell.`,
		Example: `  HEALTHCHECK CMD ["/keel", "healthcheck"]
  KEEL_HTTP_ADDR=:8080 keel healthcheck --timeout 1s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := readyzURL(cmd.Flags(), getenv)
			if err != nil {
				return err
			}
			if timeout <= 0 {
				return fmt.Errorf("--timeout: want a positive duration such as 3s, got %s", timeout)
			}
			if err := probe(cmd.Context(), target, timeout); err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "ready (%s)\n", target)
			return err
		},
	}
	addFlags(cmd.Flags(), sHTTPAddr)
	cmd.Flags().DurationVar(&timeout, "timeout", healthcheckTimeout, "how long to wait for the answer")
	return cmd
}

// readyzURL turns the address serve listens on into the URL of its
// readiness probe. An unspecified host (":8080", "0.0.0.0", "::") listens on
// loopback too, and loopback is what the probe must ask: the check runs on
// the node it checks, and must not depend on the network outside it.
func readyzURL(fs *pflag.FlagSet, getenv func(string) string) (string, error) {
	addr := value(fs, getenv, sHTTPAddr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", sHTTPAddr.errorf("want host:port, got %q", addr)
	}
	if port == "0" || port == "" {
		return "", sHTTPAddr.errorf("port %q is chosen when serve starts, so there is no known address to check", port)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// probe returns nil when target answers 200 within timeout, and an error
// of one line naming the answer or the failure otherwise.
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment and no redirects: the answer must come
	// from the local server itself.
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer within %s", target, timeout)
		}
		return err // *url.Error already names the method and the URL
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxProbeBody))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", target, res.Status, oneLine(body))
	}
	return nil
}

// oneLine keeps an answer's body to one short line for the error message:
// the probe reports, it does not relay whatever a port answers.
func oneLine(b []byte) string {
	const max = 200
	out := make([]rune, 0, len(b))
	for _, r := range string(b) {
		if r == '\n' || r == '\r' || r == '\t' {
			r = ' '
		}
		if r < ' ' || r == 0x7f {
			continue
		}
		out = append(out, r)
		if len(out) == max {
			return string(out) + "…"
		}
	}
	return string(out)
}
