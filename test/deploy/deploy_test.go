// Package deploy runs Keel's image the way README's "Deploying" section
// does: alone on SQLite with no configuration, and as two API nodes and a
// worker sharing PostgreSQL and sending through Mailpit, all as containers
// on one Docker network. The image is the one make image builds
// (KEEL_TEST_KEEL_IMAGE, default local/keel:latest); scripts/test.sh builds
// it before the tests run.
package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keelhq/keel/test/containers"
)

// KeelImageEnv names the image under test; make image builds the default.
const (
	KeelImageEnv     = "KEEL_TEST_KEEL_IMAGE"
	DefaultKeelImage = "local/keel:latest"
)

func TestMain(m *testing.M) {
	containers.Main(m)
}

func keelImage(t *testing.T) string {
	t.Helper()
	image := os.Getenv(KeelImageEnv)
	if image == "" {
		image = DefaultKeelImage
	}
	if err := containers.RequireImage(t.Context(), image); err != nil {
		t.Fatalf("%v (make image builds %s; make test builds it and sets %s)", err, DefaultKeelImage, KeelImageEnv)
	}
	return image
}

// healthEvery makes Docker run the image's own HEALTHCHECK command every
// 250 ms instead of every 10 s, so that tests wait for "healthy" briefly:
// Docker keeps the image's command when the container sets only timings.
func healthEvery(hc *container.HealthConfig) testcontainers.CustomizeRequestOption {
	return testcontainers.WithConfigModifier(func(c *container.Config) { c.Healthcheck = hc })
}

var fastHealth = &container.HealthConfig{Interval: 250 * time.Millisecond, Timeout: 5 * time.Second, Retries: 3}

// startKeel runs the image with args and env, optionally on nw under alias,
// and returns the container, which the end of t removes. Serve containers
// are ready when Docker reports them healthy, which only keel healthcheck
// inside them can make them. It reports failure by its error, not through
// t, so that goroutines of the test may call it.
func startKeel(t *testing.T, image string, nw *testcontainers.DockerNetwork, alias string, env map[string]string, args ...string) (*testcontainers.DockerContainer, error) {
	opts := []testcontainers.ContainerCustomizer{
		containers.ProcessLabel(),
		testcontainers.WithEnv(env),
		testcontainers.WithCmd(args...),
	}
	if nw != nil {
		opts = append(opts, tcnetwork.WithNetwork([]string{alias}, nw))
	}
	if args[0] == "serve" {
		opts = append(opts,
			containers.LoopbackPorts("8080/tcp"),
			testcontainers.WithExposedPorts("8080/tcp"),
			healthEvery(fastHealth),
			testcontainers.WithWaitStrategy(wait.ForHealthCheck().WithStartupTimeout(60*time.Second)),
		)
	} else {
		// A worker serves no HTTP, so the image's check cannot pass; the
		// compose file turns it off the same way. SIGKILL as the stop
		// signal makes Stop a kill -9 that the worker cannot soften.
		opts = append(opts,
			healthEvery(&container.HealthConfig{Test: []string{"NONE"}}),
			testcontainers.WithConfigModifier(func(c *container.Config) { c.StopSignal = "SIGKILL" }),
			testcontainers.WithWaitStrategy(wait.ForLog(`"msg":"delivering mail"`).WithStartupTimeout(60*time.Second)),
		)
	}
	ctr, err := testcontainers.Run(t.Context(), image, opts...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		dumpLogs(t, alias, ctr)
		return nil, fmt.Errorf("run %s %v: %w", image, args, err)
	}
	return ctr, nil
}

// dumpLogs logs the end of a container's output, for a failure's cause.
func dumpLogs(t *testing.T, name string, ctr *testcontainers.DockerContainer) {
	t.Helper()
	if ctr == nil {
		return
	}
	rc, err := ctr.Logs(context.Background())
	if err != nil {
		t.Logf("%s: logs: %v", name, err)
		return
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	t.Logf("%s's last output:\n%s", name, b)
}

func baseURL(t *testing.T, ctr *testcontainers.DockerContainer) string {
	t.Helper()
	u, err := ctr.PortEndpoint(t.Context(), "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestImageServesSQLiteWithZeroConfig: the image runs keel serve as the
// unprivileged user keel, on SQLite in its /data volume with no settings
// at all, becomes healthy through keel healthcheck, and reports the build
// make image linked into it.
func TestImageServesSQLiteWithZeroConfig(t *testing.T) {
	t.Parallel()
	image := keelImage(t)
	ctr, err := startKeel(t, image, nil, "keel", nil, "serve")
	if err != nil {
		t.Fatal(err)
	}
	info, err := ctr.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u := info.Config.User; u != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (keel, not root)", u)
	}
	if h := info.State.Health; h == nil || h.Status != "healthy" || len(h.Log) == 0 || !strings.HasPrefix(h.Log[len(h.Log)-1].Output, "ready (http://127.0.0.1:8080/readyz)") {
		t.Errorf("health %+v, want healthy by keel healthcheck", h)
	}
	base := baseURL(t, ctr)
	var inst struct {
		Version string `json:"version"`
		Commit  string `json:"commit"`
	}
	call(t, "GET", base+"/v1/instance", "", nil, http.StatusOK, &inst)
	if inst.Commit == "" || inst.Version == "" {
		t.Errorf("instance %+v: the image's binary lacks the version and commit make image links", inst)
	}
	// The database and the secret key were written in /data by keel.
	code, out, err := ctr.Exec(t.Context(), []string{"/keel", "migrate", "status"})
	if err != nil || code != 0 {
		b, _ := io.ReadAll(out)
		t.Errorf("keel migrate status in the container: %d %v\n%s", code, err, b)
	}
}

// TestTwoNodesAndAWorkerOnPostgres: the deployment of deploy/compose.yaml,
// without its TLS proxy: 2,000 submissions spread over two serve nodes
// that leave delivery to a worker become 2,000 notifications in Mailpit,
// one per submission, although the worker is killed with SIGKILL and
// started again while mail is flowing.
func TestTwoNodesAndAWorkerOnPostgres(t *testing.T) {
	t.Parallel()
	const submissions = 2000
	image := keelImage(t)
	ctx := t.Context()
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(map[string]string{containers.PIDLabel: fmt.Sprint(os.Getpid())}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.Background()) })

	var pg *tcpostgres.PostgresContainer
	var mp *testcontainers.DockerContainer
	var wg sync.WaitGroup
	var pgErr, mpErr error
	wg.Go(func() {
		if pgErr = containers.RequireImage(ctx, containers.PostgresImage()); pgErr != nil {
			return
		}
		pg, pgErr = tcpostgres.Run(ctx, containers.PostgresImage(),
			containers.LoopbackPorts("5432/tcp"),
			containers.ProcessLabel(),
			tcnetwork.WithNetwork([]string{"postgres"}, nw),
			tcpostgres.WithDatabase("keel"), tcpostgres.WithUsername("keel"), tcpostgres.WithPassword("keel"),
			tcpostgres.BasicWaitStrategies(),
		)
	})
	wg.Go(func() {
		if mpErr = containers.RequireImage(ctx, containers.MailpitImage()); mpErr != nil {
			return
		}
		mp, mpErr = testcontainers.Run(ctx, containers.MailpitImage(),
			containers.ProcessLabel(),
			tcnetwork.WithNetwork([]string{"mailpit"}, nw),
			containers.LoopbackPorts("1025/tcp", "8025/tcp"),
			testcontainers.WithExposedPorts("1025/tcp", "8025/tcp"),
			testcontainers.WithEnv(map[string]string{
				"MP_SMTP_DISABLE_RDNS": "true",
				"MP_MAX_MESSAGES":      "0", // keep every message: the test counts them
			}),
			testcontainers.WithWaitStrategy(
				wait.ForListeningPort("1025/tcp").SkipInternalCheck(),
				wait.ForHTTP("/api/v1/messages").WithPort("8025/tcp"),
			),
		)
	})
	wg.Wait()
	if pg != nil {
		testcontainers.CleanupContainer(t, pg)
	}
	if mp != nil {
		testcontainers.CleanupContainer(t, mp)
	}
	if pgErr != nil || mpErr != nil {
		t.Fatalf("postgres: %v; mailpit: %v", pgErr, mpErr)
	}
	mailAPI, err := mp.PortEndpoint(ctx, "8025/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}

	// What deploy/compose.yaml sets, less the proxy's: one database and
	// relay, the same secrets on every node, delivery left to the worker.
	// The test's 2,000 submissions come from one address, so the per-IP
	// and per-form submission limits are off.
	env := map[string]string{
		"KEEL_DATABASE_URL":         "postgres://keel:keel@postgres:5432/keel?sslmode=disable",
		"KEEL_SMTP_URL":             "smtp://mailpit:1025?tls=none",
		"KEEL_SECRET_KEY":           "deploy-test-secret-key-0123456789abcdef",
		"KEEL_IP_HASH_KEY":          "deploy-test-ip-hash-key",
		"KEEL_SUBMIT_PER_IP":        "0",
		"KEEL_SUBMIT_PER_FORM":      "0",
		"KEEL_RATE_LIMIT_ANONYMOUS": "0",
	}
	serveEnv := map[string]string{"KEEL_DISPATCHER": "off"}
	for k, v := range env {
		serveEnv[k] = v
	}
	nodes := make([]*testcontainers.DockerContainer, 2)
	nodeErrs := make([]error, len(nodes))
	for i := range nodes {
		wg.Go(func() {
			nodes[i], nodeErrs[i] = startKeel(t, image, nw, fmt.Sprintf("keel-%d", i+1), serveEnv, "serve")
		})
	}
	wg.Wait()
	for _, err := range nodeErrs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var worker *testcontainers.DockerContainer
	defer func() {
		if t.Failed() {
			dumpLogs(t, "worker", worker)
			dumpLogs(t, "keel-1", nodes[0])
			dumpLogs(t, "keel-2", nodes[1])
		}
	}()
	bases := []string{baseURL(t, nodes[0]), baseURL(t, nodes[1])}

	var setup struct {
		Token string `json:"token"`
	}
	call(t, "POST", bases[0]+"/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, http.StatusCreated, &setup)
	call(t, "POST", bases[0]+"/v1/workspaces", setup.Token, map[string]any{"name": "Harbour", "slug": "harbour"}, http.StatusCreated, nil)
	// Created on the node that made the workspace: another node learns of
	// the new membership a moment later (README, Users, workspaces and
	// access), and until then answers 404.
	var form struct {
		ID string `json:"id"`
	}
	call(t, "POST", bases[0]+"/v1/workspaces/harbour/forms", setup.Token, map[string]any{
		"name":   "Moorings",
		"fields": []map[string]any{{"name": "seq", "type": "text", "required": true}},
		"notify": map[string]any{"recipients": []string{"harbour@example.com"}, "subject": "Mooring {{.Fields.seq}}"},
	}, http.StatusCreated, &form)

	// Submit from 16 clients, alternating between the nodes. The worker
	// starts once half the submissions are in, so that it works through a
	// backlog in full batches, as it does when it falls behind, while the
	// rest arrive; watch Mailpit and kill the worker once it has sent some
	// of the mail but not all, when it most likely holds claimed messages.
	start := time.Now()
	var next, accepted atomic.Int64
	half := make(chan struct{})
	submitErr := make(chan error, 1)
	var submitting sync.WaitGroup
	for c := range 16 {
		submitting.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for {
				n := next.Add(1) - 1
				if n >= submissions {
					return
				}
				body := fmt.Sprintf(`{"seq":"s%04d"}`, n)
				res, err := client.Post(bases[(int(n)+c)%2]+"/v1/forms/"+form.ID+"/submissions", "application/json", strings.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						err = fmt.Errorf("submission %d: %s", n, res.Status)
					} else if accepted.Add(1) == submissions/2 {
						close(half)
					}
				}
				if err != nil {
					select {
					case submitErr <- err:
					default:
					}
					return
				}
			}
		})
	}

	select {
	case <-half:
	case err := <-submitErr:
		t.Fatal(err)
	}
	if worker, err = startKeel(t, image, nw, "worker", env, "worker"); err != nil {
		t.Fatal(err)
	}

	const killAfter = 200
	seen, err := waitMail(ctx, mailAPI, func(n int) bool { return n >= killAfter }, 90*time.Second)
	if err != nil {
		t.Fatalf("before the kill: %v", err)
	}
	if seen >= submissions {
		t.Fatalf("Mailpit had all %d messages before the worker could be killed", seen)
	}
	if err := worker.Stop(ctx, nil); err != nil { // SIGKILL: the container's stop signal
		t.Fatalf("kill the worker: %v", err)
	}
	killedAt := time.Now()
	st, err := worker.State(ctx)
	if err != nil || st.ExitCode != 137 {
		t.Fatalf("worker state after the kill: %+v, %v; want exit code 137 (SIGKILL)", st, err)
	}
	afterKill, _ := waitMail(ctx, mailAPI, func(int) bool { return true }, 5*time.Second)
	t.Logf("killed the worker after %s with %d messages in Mailpit (%d when observed)", killedAt.Sub(start).Round(time.Millisecond), afterKill, seen)
	if err := worker.Start(ctx); err != nil {
		t.Fatalf("restart the worker: %v", err)
	}

	submitting.Wait()
	select {
	case err := <-submitErr:
		t.Fatal(err)
	default:
	}
	submitted := time.Since(start)

	// A message the killed worker had claimed is leased to it for two
	// minutes (README, Mail delivery); the restarted worker takes it over
	// when the lease ends. Then no message is pending any more, and what
	// Mailpit holds is final.
	if _, err := waitMail(ctx, mailAPI, func(n int) bool { return n >= submissions }, 3*time.Minute); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var pending struct {
			Data []json.RawMessage `json:"data"`
		}
		call(t, "GET", bases[0]+"/v1/workspaces/harbour/messages?status=pending&limit=1", setup.Token, nil, http.StatusOK, &pending)
		if len(pending.Data) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages still pending 3 minutes after Mailpit had %d", submissions)
		}
		time.Sleep(100 * time.Millisecond) // polling another process with a deadline
	}

	msgs, err := allMail(ctx, mailAPI)
	if err != nil {
		t.Fatal(err)
	}
	byMessageID := map[string][]mailSummary{}
	bySeq := map[string]map[string]bool{}
	for _, m := range msgs {
		seq, ok := strings.CutPrefix(m.Subject, "Mooring ")
		if !ok {
			t.Errorf("unexpected message %q to %v", m.Subject, m.To)
			continue
		}
		byMessageID[m.MessageID] = append(byMessageID[m.MessageID], m)
		if bySeq[seq] == nil {
			bySeq[seq] = map[string]bool{}
		}
		bySeq[seq][m.MessageID] = true
	}
	for n := range submissions {
		seq := fmt.Sprintf("s%04d", n)
		switch ids := bySeq[seq]; len(ids) {
		case 1:
		case 0:
			t.Errorf("submission %s: no notification in Mailpit", seq)
		default:
			t.Errorf("submission %s: %d different notifications, want 1", seq, len(ids))
		}
	}
	if len(bySeq) != submissions || len(byMessageID) != submissions {
		t.Errorf("Mailpit holds %d notifications for %d submissions, want %d of each", len(byMessageID), len(bySeq), submissions)
	}
	// The one resend Keel's at-least-once delivery allows: the relay took
	// a message and the worker died before it recorded so. The first copy
	// then came before the kill; any other resend is a fault.
	resent := 0
	for id, copies := range byMessageID {
		if len(copies) == 1 {
			continue
		}
		resent++
		sort.Slice(copies, func(i, j int) bool { return copies[i].Created.Before(copies[j].Created) })
		if len(copies) > 2 || copies[0].Created.After(killedAt.Add(time.Second)) {
			t.Errorf("message %s reached Mailpit %d times, first at %s, but the worker was killed at %s: only a message in flight at the kill may be resent, once",
				id, len(copies), copies[0].Created.Format(time.RFC3339Nano), killedAt.Format(time.RFC3339Nano))
		}
	}
	if resent > 8 { // the dispatcher has at most 8 sends in flight
		t.Errorf("%d messages were resent after the kill; at most the 8 in flight may be", resent)
	}
	t.Logf("%d submissions over 2 nodes in %s; %d notifications, one per submission; %d resent after the kill (same Message-ID); done after %s",
		submissions, submitted.Round(time.Millisecond), len(byMessageID), resent, time.Since(start).Round(time.Millisecond))
}

// mailSummary is what the test reads of Mailpit's message list.
type mailSummary struct {
	MessageID string
	Subject   string
	To        []struct{ Address string }
	Created   time.Time
}

// waitMail polls Mailpit until ok(total) holds or timeout passes, and
// returns the last total it saw.
func waitMail(ctx context.Context, api string, ok func(int) bool, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	total := -1
	for {
		var page struct {
			Total int `json:"total"`
		}
		err := getJSON(ctx, api+"/api/v1/messages?limit=1", &page)
		if err == nil {
			total = page.Total
			if ok(total) {
				return total, nil
			}
		}
		if time.Now().After(deadline) {
			return total, fmt.Errorf("Mailpit holds %d messages after %s (last error: %v)", total, timeout, err)
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling another process with a deadline
		}
	}
}

// allMail reads every message summary Mailpit holds, a page at a time.
func allMail(ctx context.Context, api string) ([]mailSummary, error) {
	var all []mailSummary
	for {
		var page struct {
			Total    int           `json:"total"`
			Messages []mailSummary `json:"messages"`
		}
		q := url.Values{"start": {fmt.Sprint(len(all))}, "limit": {"500"}}
		if err := getJSON(ctx, api+"/api/v1/messages?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Messages...)
		if len(page.Messages) == 0 || len(all) >= page.Total {
			return all, nil
		}
	}
}

func getJSON(ctx context.Context, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(into)
}

// call makes one API request and fails t unless it answers want.
func call(t *testing.T, method, u, token string, body any, want int, into any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", method, u, res.Status, want, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s %s: %v: %s", method, u, err, b)
		}
	}
}
