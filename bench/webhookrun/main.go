// Command webhookrun measures webhook delivery, issue 11's figures in
// BENCHMARKS.md, against a receiver in this process on 127.0.0.1 that
// verifies every request with the Standard Webhooks Go library and
// answers 204:
//
//   - throughput: keel serve with KEEL_DISPATCHER=off queues -events
//     submission.created events for one endpoint on SQLite and stops;
//     then, -runs times, a keel worker starts on a copy of that database
//     and the run is timed from its start until the receiver has every
//     event. Each run reports deliveries/s, from the worker's start and
//     from the first arrival to the last, and the CPU time per delivery
//     of the worker and of this process (the receiver).
//   - latency: keel serve (dispatcher on, idle) with one endpoint takes
//     -samples submissions one at a time; each sample is the time from
//     the POST's answer (the transaction has committed) to the delivery's
//     arrival at the receiver, which answers 204 at once.
//
// Per-run figures go to stderr; stdout gets one key=value line per figure
// for scripts/bench-webhooks.sh.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keelhq/keel/bench/internal/apiclient"
)

func main() {
	bin := flag.String("bin", "", "path to the keel binary")
	events := flag.Int("events", 20000, "events queued for the throughput runs")
	runs := flag.Int("runs", 3, "throughput runs, each on a copy of the queued database")
	endpoints := flag.Int("endpoints", 1, "endpoints, all on the one receiver, each subscribed to every event of the throughput runs")
	samples := flag.Int("samples", 200, "latency samples, one submission at a time")
	flag.Parse()
	if *bin == "" || *events < 1 || *runs < 1 || *samples < 0 || *endpoints < 1 {
		fmt.Fprintln(os.Stderr, "usage: webhookrun -bin PATH [-events N] [-endpoints N] [-runs N] [-samples N]")
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "keel-webhookrun-")
	if err == nil {
		defer os.RemoveAll(tmp)
		rx, rerr := newReceiver()
		if rerr != nil {
			err = rerr
		} else {
			defer rx.close()
			err = throughput(*bin, tmp, rx, *events, *endpoints, *runs)
			if err == nil && *samples > 0 {
				err = latency(*bin, tmp, rx, *samples)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhookrun:", err)
		os.Exit(1)
	}
}

// keelEnv is every keel process's configuration: the receiver is on
// loopback over plain HTTP, and the rate limits are out of the way.
func keelEnv(dataDir string, extra ...string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEEL_") {
			env = append(env, kv)
		}
	}
	return append(append(env,
		"KEEL_DATA_DIR="+dataDir,
		"KEEL_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8",
		"KEEL_WEBHOOK_ALLOW_HTTP=true",
		"KEEL_SUBMIT_PER_IP=100000000",
		"KEEL_SUBMIT_PER_FORM=100000000",
	), extra...)
}

func throughput(bin, tmp string, rx *receiver, events, endpoints, runs int) error {
	queued := filepath.Join(tmp, "queued")
	if err := os.Mkdir(queued, 0o700); err != nil {
		return err
	}
	srv, err := startServe(bin, keelEnv(queued, "KEEL_DISPATCHER=off"), filepath.Join(tmp, "queue.log"))
	if err != nil {
		return err
	}
	s, err := setUp(srv.base, rx, endpoints)
	if err == nil {
		start := time.Now()
		err = s.submitMany(srv.base, events, 32)
		fmt.Fprintf(os.Stderr, "webhookrun: queued %d events for %d endpoints in %v\n", events, endpoints, time.Since(start).Round(time.Millisecond))
	}
	if serr := srv.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}

	deliveries := events * endpoints
	var total, steady, workerCPU, selfCPU, others []float64
	for i := 1; i <= runs; i++ {
		dir := filepath.Join(tmp, fmt.Sprintf("run%d", i))
		if out, err := exec.Command("cp", "-a", queued, dir).CombinedOutput(); err != nil {
			return fmt.Errorf("copy the queued database: %v: %s", err, out)
		}
		rx.reset(s.secrets)
		busy0, self0 := busyTicks(), procTicks(os.Getpid())
		w, err := startProc(bin, keelEnv(dir), filepath.Join(tmp, fmt.Sprintf("worker%d.log", i)), "worker")
		if err != nil {
			return err
		}
		started := time.Now()
		if err := rx.waitDistinct(deliveries, 5*time.Minute); err != nil {
			_ = w.stop()
			return fmt.Errorf("run %d: %w", i, err)
		}
		done := time.Now()
		wticks, busy1, self1 := procTicks(w.cmd.Process.Pid), busyTicks(), procTicks(os.Getpid())
		if err := w.stop(); err != nil {
			return err
		}
		first, last, requests, bad := rx.span()
		if bad > 0 {
			return fmt.Errorf("run %d: %d requests failed verification", i, bad)
		}
		secs := done.Sub(started).Seconds()
		total = append(total, float64(deliveries)/secs)
		steady = append(steady, float64(deliveries-1)/last.Sub(first).Seconds())
		workerCPU = append(workerCPU, ticksToMicros(wticks)/float64(deliveries))
		selfCPU = append(selfCPU, ticksToMicros(self1-self0)/float64(deliveries))
		// Clock ticks are coarse: a small negative remainder is zero.
		others = append(others, max(0, float64(busy1-busy0-wticks-(self1-self0))/clkTck/secs))
		fmt.Fprintf(os.Stderr, "webhookrun: run %d: %d deliveries in %.2f s: %.0f/s from the worker's start, %.0f/s first to last arrival; %d requests; worker %.1f µs/delivery, receiver %.1f µs; other CPUs %.2f\n",
			i, deliveries, secs, total[i-1], steady[i-1], requests, workerCPU[i-1], selfCPU[i-1], others[i-1])
		_ = os.RemoveAll(dir)
	}
	fmt.Printf("events=%d\nendpoints=%d\ndeliveries=%d\nruns=%d\n", events, endpoints, deliveries, runs)
	fmt.Printf("deliveries_per_s_median=%.0f\ndeliveries_per_s_runs=%s\n", median(total), join(total, "%.0f"))
	fmt.Printf("steady_per_s_median=%.0f\n", median(steady))
	fmt.Printf("worker_cpu_us_median=%.1f\nreceiver_cpu_us_median=%.1f\nother_cpus_runs=%s\n", median(workerCPU), median(selfCPU), join(others, "%.2f"))
	return nil
}

func latency(bin, tmp string, rx *receiver, samples int) error {
	dir := filepath.Join(tmp, "latency")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	srv, err := startServe(bin, keelEnv(dir), filepath.Join(tmp, "latency.log"))
	if err != nil {
		return err
	}
	defer srv.stop()
	rx.reset(nil)
	s, err := setUp(srv.base, rx, 1)
	if err != nil {
		return err
	}
	rx.reset(s.secrets)
	const warmup = 20
	var fromAnswer, fromPost []float64
	for n := 1; n <= warmup+samples; n++ {
		arrived := rx.expect(strconv.Itoa(n))
		posted := time.Now()
		if err := s.submit(srv.base, n); err != nil {
			return err
		}
		answered := time.Now()
		var at time.Time
		select {
		case at = <-arrived:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("submission %d: no delivery within 30s", n)
		}
		if n > warmup {
			fromAnswer = append(fromAnswer, ms(at.Sub(answered)))
			fromPost = append(fromPost, ms(at.Sub(posted)))
		}
	}
	if _, _, _, bad := rx.span(); bad > 0 {
		return fmt.Errorf("latency: %d requests failed verification", bad)
	}
	slices.Sort(fromAnswer)
	slices.Sort(fromPost)
	fmt.Fprintf(os.Stderr, "webhookrun: latency over %d samples: answer to arrival p50 %.2f ms, p90 %.2f, p99 %.2f, max %.2f; POST to arrival p50 %.2f ms\n",
		samples, pct(fromAnswer, 50), pct(fromAnswer, 90), pct(fromAnswer, 99), slices.Max(fromAnswer), pct(fromPost, 50))
	fmt.Printf("samples=%d\n", samples)
	fmt.Printf("latency_ms_p50=%.2f\nlatency_ms_p90=%.2f\nlatency_ms_p99=%.2f\nlatency_ms_max=%.2f\n", pct(fromAnswer, 50), pct(fromAnswer, 90), pct(fromAnswer, 99), slices.Max(fromAnswer))
	fmt.Printf("post_to_arrival_ms_p50=%.2f\n", pct(fromPost, 50))
	return nil
}

// receiver serves the endpoints, /hooks/1 to /hooks/N: it verifies each
// request with its endpoint's secret, counts the distinct deliveries
// (endpoint and webhook-id), and tells who expects a submission's event
// when it comes.
type receiver struct {
	ln  net.Listener
	srv *http.Server
	url string

	mu          sync.Mutex
	wh          map[string]*standardwebhooks.Webhook // by path
	seen        map[string]bool
	requests    int
	bad         int
	first, last time.Time
	waiting     map[string]chan time.Time // submission n -> its arrival
	changed     chan struct{}
}

func newReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{ln: ln, url: "http://" + ln.Addr().String() + "/hooks/", changed: make(chan struct{}, 1)}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) close() { _ = r.srv.Close() }

// reset forgets every arrival and verifies /hooks/i with secrets[i-1]
// from now on.
func (r *receiver) reset(secrets []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wh = map[string]*standardwebhooks.Webhook{}
	for i, s := range secrets {
		r.wh[fmt.Sprintf("/hooks/%d", i+1)], _ = standardwebhooks.NewWebhook(s)
	}
	r.seen, r.waiting = map[string]bool{}, map[string]chan time.Time{}
	r.requests, r.bad, r.first, r.last = 0, 0, time.Time{}, time.Time{}
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	now := time.Now()
	r.mu.Lock()
	wh := r.wh[req.URL.Path]
	r.mu.Unlock()
	switch {
	case err != nil:
	case wh == nil:
		err = errors.New("no endpoint at " + req.URL.Path)
	default:
		err = wh.Verify(body, req.Header)
	}
	var ev struct {
		Data struct {
			Values map[string]any `json:"values"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	n, _ := ev.Data.Values["n"].(string)
	r.mu.Lock()
	r.requests++
	if err != nil {
		r.bad++
	}
	if r.first.IsZero() {
		r.first = now
	}
	r.last = now
	r.seen[req.URL.Path+" "+req.Header.Get("webhook-id")] = true
	if ch := r.waiting[n]; ch != nil {
		delete(r.waiting, n)
		ch <- now
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// expect returns a channel that gets the arrival time of submission n's
// event.
func (r *receiver) expect(n string) chan time.Time {
	ch := make(chan time.Time, 1)
	r.mu.Lock()
	r.waiting[n] = ch
	r.mu.Unlock()
	return ch
}

func (r *receiver) waitDistinct(n int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		got := len(r.seen)
		r.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-r.changed:
		case <-deadline:
			return fmt.Errorf("%d of %d events arrived within %v", got, n, timeout)
		}
	}
}

func (r *receiver) span() (first, last time.Time, requests, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first, r.last, r.requests, r.bad
}

// site is the workspace, form and endpoint a scenario uses.
type site struct {
	token, form string
	secrets     []string // of /hooks/1, /hooks/2...
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// call sends body as JSON to Keel at base, as token when it is set, and
// decodes a 2xx answer into into (when not nil).
func call(method, base, path, token string, body, into any) error {
	c := apiclient.Client{Base: base, Token: token, HTTP: httpClient}
	return c.Call(context.Background(), method, path, body, into)
}

// setUp creates the administrator, a workspace, a one-field form and
// endpoints endpoints on rx subscribed to submission.created.
func setUp(base string, rx *receiver, endpoints int) (site, error) {
	var s site
	var setup struct{ Token string }
	if err := call("POST", base, "/v1/setup", "", map[string]any{"email": "bench@example.com", "password": "correct horse battery", "name": "Bench"}, &setup); err != nil {
		return s, err
	}
	s.token = setup.Token
	if err := call("POST", base, "/v1/workspaces", s.token, map[string]any{"name": "Bench", "slug": "bench"}, nil); err != nil {
		return s, err
	}
	var form struct{ ID string }
	if err := call("POST", base, "/v1/workspaces/bench/forms", s.token, map[string]any{
		"name": "Load", "fields": []map[string]any{{"name": "n", "type": "text", "required": true}},
	}, &form); err != nil {
		return s, err
	}
	s.form = form.ID
	for i := 1; i <= endpoints; i++ {
		var w struct{ Secret string }
		if err := call("POST", base, "/v1/workspaces/bench/webhooks", s.token, map[string]any{
			"url": rx.url + strconv.Itoa(i), "events": []string{"submission.created"}, "description": "bench receiver", "enabled": true,
		}, &w); err != nil {
			return s, err
		}
		s.secrets = append(s.secrets, w.Secret)
	}
	return s, nil
}

func (s site) submit(base string, n int) error {
	return call("POST", base, "/v1/forms/"+s.form+"/submissions", "", map[string]any{"n": strconv.Itoa(n)}, nil)
}

func (s site) submitMany(base string, count, workers int) error {
	ns := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for n := range ns {
				if err := s.submit(base, n); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for n := 1; n <= count; n++ {
		select {
		case ns <- n:
		case err := <-errs:
			close(ns)
			wg.Wait()
			return err
		}
	}
	close(ns)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// proc is a keel process whose stdout goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	base string
	log  string
}

func startProc(bin string, env []string, logPath string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &proc{cmd: exec.Command(bin, args...), log: logPath}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	return p, p.cmd.Start()
}

// startServe starts keel serve on a free loopback port and waits for its
// listening line.
func startServe(bin string, env []string, logPath string) (*proc, error) {
	p, err := startProc(bin, env, logPath, "serve", "--http-addr", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f, err := os.Open(logPath)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				f.Close()
				p.base = "http://" + line.Addr
				return p, nil
			}
		}
		f.Close()
	}
	_ = p.stop()
	return nil, fmt.Errorf("keel serve logged no listening line within 30s; see %s", logPath)
}

func (p *proc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		out, _ := os.ReadFile(p.log)
		return fmt.Errorf("keel %s: %v\n%s", p.cmd.Args[1], err, tail(out))
	}
	return nil
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// clkTck is USER_HZ, which /proc reports CPU time in; 100 on Linux.
const clkTck = 100.0

func ticksToMicros(t int64) float64 { return float64(t) / clkTck * 1e6 }

// busyTicks is the CPU time of every CPU, busy, in clock ticks.
func busyTicks() int64 {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var t int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			t += v
		}
	}
	return t
}

// procTicks is process pid's user and system CPU time in clock ticks.
func procTicks(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	// The command name, in parentheses, may hold spaces.
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// pct returns the p-th percentile of sorted v, nearest rank.
func pct(v []float64, p int) float64 {
	i := (len(v)*p + 99) / 100
	return v[max(i-1, 0)]
}

func join(v []float64, format string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " / ")
}
