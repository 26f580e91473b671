package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/keelproc"
)

// refusalBound is the longest a request may take to be refused while the
// database is away: a client must learn quickly that it has to retry.
const refusalBound = 5 * time.Second

// TestPostgresRestart stops the PostgreSQL container under a steady
// stream of submissions and starts it again. While it is down, /readyz
// answers 503 and submissions are refused with 503 database_unavailable
// within refusalBound; once it is back, the same keel process, never
// restarted, is ready and accepts submissions again; and every
// submission acknowledged with 201, before, during or after the outage,
// is stored with its notification's outbox row. Last, a frozen server
// (docker pause) makes /readyz answer 503 within refusalBound.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	pg, dbURL := startPostgres(t)
	// KEEL_DB_TIMEOUT shorter than its default bounds the frozen step's
	// submission below.
	p := keelproc.Serve(t, "serve", append(baseEnv(dbURL, t.TempDir()), "KEEL_DB_TIMEOUT=2s"))
	site := keelproc.NewSite(t, p, "pgrestart", "")

	s := startStream(t, p, site.Form, "r", 4)
	s.waitFor(t, "submissions acknowledged before the outage", 0, 30*time.Second, func(os []outcome) bool {
		return count(os, http.StatusCreated, "") >= 50
	})

	// docker stop sends PostgreSQL SIGTERM, a smart shutdown that waits
	// for the clients to leave, and SIGKILL after the timeout: keel's
	// connections see both a refusing and a vanished server.
	stopTimeout := 2 * time.Second
	if err := pg.Stop(context.Background(), &stopTimeout); err != nil {
		t.Fatalf("stop postgres: %v", err)
	}
	stopped := time.Now()
	before := len(s.snapshot())
	s.waitFor(t, "refusals while PostgreSQL is down", before, 30*time.Second, func(os []outcome) bool {
		return count(os, http.StatusServiceUnavailable, "database_unavailable") >= 20
	})
	if status, body, err := p.Call(t.Context(), "GET", "/readyz", "", nil); err != nil || status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with PostgreSQL down = %d %s (%v), want 503", status, body, err)
	}
	// Nothing is acknowledged while the server is gone: the answers that
	// came from now until just before it is started must all be refusals.
	// They are read before the start, since Start returns only once the
	// server accepts connections, and answers after that may be 201s.
	gone := len(s.snapshot())
	back := s.waitFor(t, "more answers while PostgreSQL is down", gone, 30*time.Second, func(os []outcome) bool {
		return len(os) >= 10
	})
	whileDown := s.snapshot()[gone:back]

	if err := pg.Start(context.Background()); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	started := time.Now()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if status, _, err := p.Call(t.Context(), "GET", "/readyz", "", nil); err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 30s of PostgreSQL's start")
		}
	}
	ready := time.Since(started)
	s.waitFor(t, "submissions acknowledged after the restart", len(s.snapshot()), 30*time.Second, func(os []outcome) bool {
		return count(os, http.StatusCreated, "") >= 50
	})
	s.stop()
	outcomes := s.snapshot()

	if n := count(whileDown, http.StatusCreated, ""); n != 0 {
		t.Errorf("%d submissions acknowledged while PostgreSQL was down", n)
	}
	slowest := checkAnswers(t, outcomes, "database_unavailable")
	if slowest > refusalBound {
		t.Errorf("the slowest refusal took %v, want at most %v", slowest, refusalBound)
	}
	acked := checkAcknowledged(t, outcomes, stored(t, "pgx", dbURL, site.Form))
	t.Logf("%d submissions: %d acknowledged (%d before the stop), %d refused, the slowest refusal in %v; down %v, ready %v after the start",
		len(outcomes), acked, count(outcomes[:before], http.StatusCreated, ""), count(outcomes, http.StatusServiceUnavailable, ""),
		slowest.Round(time.Millisecond), started.Sub(stopped).Round(time.Millisecond), ready.Round(time.Millisecond))

	// A server that keeps its connections but answers nothing (frozen
	// here with docker pause) must not hang the readiness probe.
	docker(t, "pause", pg.GetContainerID())
	began := time.Now()
	status, body, err := p.Call(t.Context(), "GET", "/readyz", "", nil)
	took := time.Since(began)
	// Nor a submission: KEEL_DB_TIMEOUT ends its wait with a refusal.
	frozen := submit(t.Context(), http.DefaultClient, p, site.Form, "frozen")
	docker(t, "unpause", pg.GetContainerID())
	if err != nil || status != http.StatusServiceUnavailable || took > refusalBound {
		t.Errorf("/readyz with PostgreSQL frozen = %d %s (%v) after %v, want 503 within %v", status, body, err, took, refusalBound)
	}
	if frozen.status != http.StatusServiceUnavailable || frozen.code != "database_unavailable" || !frozen.retryAfter || frozen.took > 2*time.Second+refusalBound {
		t.Errorf("a submission with PostgreSQL frozen = %d %q (Retry-After %v, %v) after %v, want 503 database_unavailable with Retry-After within %v",
			frozen.status, frozen.code, frozen.retryAfter, frozen.err, frozen.took, 2*time.Second+refusalBound)
	}
	if after := submit(t.Context(), http.DefaultClient, p, site.Form, "thawed"); after.status != http.StatusCreated {
		t.Errorf("a submission after the unpause = %d %q (%v), want 201", after.status, after.code, after.err)
	}
	p.Stop(t)
}

// docker runs the docker command with args, failing t if it fails.
func docker(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker %v: %v: %s", args, err, out)
	}
}

// startPostgres starts a PostgreSQL container of the test's own, which it
// can stop and start, published on a fixed loopback port: Docker gives a
// port it picked a new one on every start, and keel, configured once,
// must find the server where it was.
func startPostgres(t *testing.T) (*tcpostgres.PostgresContainer, string) {
	t.Helper()
	image := containers.PostgresImage()
	if err := containers.RequireImage(t.Context(), image); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	fixed := testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		hc.PortBindings = network.PortMap{
			network.MustParsePort("5432/tcp"): {{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), HostPort: strconv.Itoa(port)}},
		}
	})
	ctr, err := tcpostgres.Run(context.Background(), image,
		fixed,
		containers.ProcessLabel(),
		tcpostgres.WithDatabase("keel"),
		tcpostgres.WithUsername("keel"),
		tcpostgres.WithPassword("keel"),
		tcpostgres.BasicWaitStrategies(),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("run %s: %v", image, err)
	}
	return ctr, fmt.Sprintf("postgres://keel:keel@127.0.0.1:%d/keel?sslmode=disable", port)
}

// freePort returns a loopback TCP port that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
