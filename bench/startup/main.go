// Command startup measures how long keel serve takes to become ready on an
// empty SQLite database: the wall time from starting the process until GET
// /readyz first answers 200, polled every millisecond. Each run gets a
// fresh data directory, so every run creates the database and applies
// every migration. It also collects the startup_ms the server logs itself,
// which leaves out the time before main runs (loading the binary, package
// initialisation) and the time until the first request is served.
//
// Per-run figures go to stderr; stdout gets one key=value line per figure
// for scripts/bench.sh.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "", "path to the keel binary")
	runs := flag.Int("runs", 10, "how many times to start the server")
	timeout := flag.Duration("timeout", 10*time.Second, "how long one start may take before the run fails")
	flag.Parse()
	if *bin == "" || *runs < 1 {
		fmt.Fprintln(os.Stderr, "usage: startup -bin PATH [-runs N] [-timeout D]")
		os.Exit(2)
	}
	if err := run(*bin, *runs, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(bin string, runs int, timeout time.Duration) error {
	var ready, logged []float64
	for i := 1; i <= runs; i++ {
		r, l, err := startOnce(bin, timeout)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		fmt.Fprintf(os.Stderr, "startup: run %2d: ready after %.1f ms (server's startup_ms: %.0f)\n", i, r, l)
		ready, logged = append(ready, r), append(logged, l)
	}
	fmt.Printf("runs=%d\n", runs)
	fmt.Printf("ready_ms_median=%.1f\nready_ms_max=%.1f\n", median(ready), slices.Max(ready))
	fmt.Printf("startup_ms_median=%.0f\nstartup_ms_max=%.0f\n", median(logged), slices.Max(logged))
	return nil
}

// startOnce starts keel serve on a fresh data directory and a free port,
// waits for /readyz to answer 200, then stops it with SIGTERM. It returns
// the milliseconds until ready and the startup_ms from the listening line.
func startOnce(bin string, timeout time.Duration) (readyMS, startupMS float64, err error) {
	dir, err := os.MkdirTemp("", "keel-startup-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return 0, 0, err
	}

	cmd := exec.Command(bin, "serve", "--http-addr", addr, "--data-dir", dir)
	cmd.Env = cleanEnv()
	cmd.Stderr = os.Stderr
	watch := &listeningWatcher{startupMS: make(chan float64, 1)}
	cmd.Stdout = watch

	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	url := "http://" + addr + "/readyz"
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		}
	}()

	deadline := start.Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				readyMS = float64(time.Since(start).Microseconds()) / 1000
				break
			}
		}
		select {
		case werr := <-exited:
			exited <- werr // for the deferred stop
			return 0, 0, fmt.Errorf("keel serve exited before it was ready: %v", werr)
		default:
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("not ready after %s (last error: %v)", timeout, err)
		}
		time.Sleep(time.Millisecond)
	}

	select {
	case startupMS = <-watch.startupMS:
	case <-time.After(timeout):
		return 0, 0, errors.New("no listening line with startup_ms on stdout")
	}
	return readyMS, startupMS, nil
}

// listeningWatcher is the server's stdout: it splits the JSON log into
// lines and sends the startup_ms of the listening line. os/exec calls Write
// from one goroutine, and Wait returns only after the last Write.
type listeningWatcher struct {
	buf       []byte
	startupMS chan float64
}

func (w *listeningWatcher) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		var line struct {
			Msg       string   `json:"msg"`
			StartupMS *float64 `json:"startup_ms"`
		}
		if json.Unmarshal(w.buf[:i], &line) == nil && line.Msg == "listening" && line.StartupMS != nil {
			select {
			case w.startupMS <- *line.StartupMS:
			default:
			}
		}
		w.buf = w.buf[i+1:]
	}
}

// freeAddr returns a loopback address with a port free a moment ago. The
// server needs the port before it starts, since the poll begins at once.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// cleanEnv drops KEEL_* variables, so the measured server runs on the
// defaults (embedded SQLite, no trace export) whatever the caller's shell
// holds.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "KEEL_") })
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
