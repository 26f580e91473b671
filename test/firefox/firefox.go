// Package firefox starts Debian's Firefox ESR and drives it over WebDriver
// BiDi, the W3C protocol Firefox speaks itself, so that the console's
// tests can run in Firefox as they run in Chromium (test/browser) without
// geckodriver, which Debian does not package. It holds only what those
// tests use: a tab, navigation, script evaluation, a viewport and
// screenshots.
package firefox

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/keelhq/keel/test/browser"
)

// Path finds Firefox; scripts/test.sh installs Debian's firefox-esr when
// it is missing. A missing browser fails the test rather than skipping it,
// so CI cannot pass without running it.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Firefox on PATH: scripts/test.sh installs it (apt-get install firefox-esr)")
	return ""
}

// OldEnv names the variable that holds the previous Firefox ESR's binary,
// which scripts/browsers.sh (run by make test) unpacks from Debian's
// archive.
const OldEnv = "KEEL_TEST_FIREFOX_OLD"

// EachVersion runs f in a subtest named by Firefox's version, once for
// the Firefox on PATH and once for the previous ESR that $KEEL_TEST_FIREFOX_OLD
// names (browser.EachVersion).
func EachVersion(t *testing.T, f func(t *testing.T, b browser.Binary)) {
	t.Helper()
	browser.EachVersion(t, Path(t), OldEnv, f)
}

// startTimeout bounds Firefox's start, until it prints its BiDi endpoint:
// a few seconds on an idle machine, much longer on a loaded CI runner.
const startTimeout = 2 * time.Minute

// Browser is one headless Firefox with one BiDi session.
type Browser struct {
	ws      *websocket.Conn
	writeMu sync.Mutex

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan reply
	closed  error    // why the connection ended, once it has
	errors  []string // JavaScript errors the pages logged
}

type reply struct {
	Result json.RawMessage
	Err    error
}

// loopbackOnly is the profile's user.js. Firefox reaches for Mozilla's
// services on its own (remote settings, safe browsing, telemetry, add-on
// and system add-on updates, captive portal and connectivity checks),
// and tests may send no packet beyond this machine: every request for
// any address but loopback goes to a proxy on 127.0.0.1's discard port,
// which refuses it, so nothing leaves whatever a service tries, and the
// services are switched off so that they do not try.
const loopbackOnly = `user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", 9);
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", 9);
user_pref("network.proxy.share_proxy_settings", true);
user_pref("network.proxy.no_proxies_on", "localhost, 127.0.0.1, [::1]");
user_pref("network.proxy.allow_hijacking_localhost", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.predictor.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("captivedetect.canonicalURL", "");
user_pref("services.settings.server", "http://127.0.0.1:9/");
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.provider.mozilla.updateURL", "");
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("app.normandy.enabled", false);
user_pref("app.update.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("extensions.systemAddon.update.enabled", false);
user_pref("media.gmp-manager.url", "");
user_pref("browser.region.network.url", "");
user_pref("geo.provider.network.url", "");
user_pref("dom.push.connection.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
`

// Start runs the Firefox on PATH (Path) for t; see StartAt.
func Start(t testing.TB) *Browser {
	t.Helper()
	return StartAt(t, Path(t))
}

// StartAt runs the headless Firefox at path for t on loopback with a
// fresh profile, opens a BiDi session and ends both with the test:
// session.end, then the process is killed and the profile removed
// (t.TempDir).
func StartAt(t testing.TB, path string) *Browser {
	t.Helper()
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(loopbackOnly), 0o600); err != nil {
		t.Fatal(err)
	}
	// Port 0 lets Firefox pick a free port, which it prints on stderr:
	// no race with another test for a fixed one.
	cmd := exec.Command(path, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port=0")
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Firefox: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	endpoint := make(chan string, 1)
	// ended is closed when stderr does, which is when Firefox exits: a
	// browser that cannot start (a missing library, say) fails the test
	// at once, with what it printed, rather than after startTimeout.
	ended := make(chan struct{})
	var printed []string // the first lines of stderr, read after ended
	go func() {
		defer close(ended)
		// Read stderr to its end so that Firefox never blocks on a full
		// pipe; only the endpoint line matters.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if len(printed) < 20 {
				printed = append(printed, sc.Text())
			}
			if rest, ok := strings.CutPrefix(sc.Text(), "WebDriver BiDi listening on "); ok {
				select {
				case endpoint <- strings.TrimSpace(rest):
				default:
				}
			}
		}
	}()
	var url string
	select {
	case url = <-endpoint:
	case <-ended:
		select {
		case url = <-endpoint: // printed just before it closed stderr
		default:
			t.Fatalf("Firefox at %s ended before it printed its WebDriver BiDi endpoint: %v; it printed:\n%s", path, cmd.Wait(), strings.Join(printed, "\n"))
		}
	case <-time.After(startTimeout):
		t.Fatalf("Firefox at %s printed no WebDriver BiDi endpoint within %s", path, startTimeout)
	}
	ws, _, err := websocket.DefaultDialer.Dial(url+"/session", nil)
	if err != nil {
		t.Fatalf("connect to Firefox's BiDi endpoint %s: %v", url, err)
	}
	b := &Browser{ws: ws, waiting: map[int]chan reply{}}
	go b.read()
	t.Cleanup(func() { _ = ws.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if _, err := b.Call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		t.Fatalf("session.new: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = b.Call(ctx, "session.end", map[string]any{})
	})
	// Errors a page's scripts throw or log arrive as log.entryAdded
	// events; Errors returns them.
	if _, err := b.Call(ctx, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}); err != nil {
		t.Fatalf("session.subscribe: %v", err)
	}
	return b
}

// read dispatches the endpoint's messages: replies to their callers, log
// entries to b.errors.
func (b *Browser) read() {
	for {
		_, data, err := b.ws.ReadMessage()
		if err != nil {
			b.mu.Lock()
			b.closed = fmt.Errorf("the BiDi connection to Firefox ended: %w", err)
			for id, ch := range b.waiting {
				ch <- reply{Err: b.closed}
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m struct {
			Type    string
			ID      *int
			Method  string
			Params  json.RawMessage
			Result  json.RawMessage
			Error   string
			Message string
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if m.Type == "event" {
			if m.Method == "log.entryAdded" {
				var e struct {
					Level, Text, Type string
					Source            struct{ Context string }
				}
				if json.Unmarshal(m.Params, &e) == nil && e.Level == "error" {
					b.mu.Lock()
					b.errors = append(b.errors, e.Type+": "+e.Text)
					b.mu.Unlock()
				}
			}
			continue
		}
		if m.ID == nil {
			continue
		}
		b.mu.Lock()
		ch := b.waiting[*m.ID]
		delete(b.waiting, *m.ID)
		b.mu.Unlock()
		if ch == nil {
			continue
		}
		if m.Type == "error" {
			ch <- reply{Err: fmt.Errorf("%s: %s", m.Error, m.Message)}
		} else {
			ch <- reply{Result: m.Result}
		}
	}
}

// Call sends one BiDi command and waits for its result.
func (b *Browser) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	ch := make(chan reply, 1)
	b.mu.Lock()
	if b.closed != nil {
		b.mu.Unlock()
		return nil, b.closed
	}
	b.nextID++
	id := b.nextID
	b.waiting[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	b.writeMu.Lock()
	err = b.ws.WriteMessage(websocket.TextMessage, msg)
	b.writeMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("%s: %w", method, r.Err)
		}
		return r.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Errors returns the errors pages have logged so far: uncaught
// exceptions, console.error, and policy violations Firefox reports.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Tab is one browsing context (a tab) of the browser.
type Tab struct {
	b  *Browser
	id string
}

// NewTab opens a tab.
func (b *Browser) NewTab(ctx context.Context) (*Tab, error) {
	raw, err := b.Call(ctx, "browsingContext.create", map[string]any{"type": "tab"})
	if err != nil {
		return nil, err
	}
	var r struct{ Context string }
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return &Tab{b: b, id: r.Context}, nil
}

// Navigate opens url and returns once the page has loaded (its load
// event), and the URL it ended on after redirects.
func (t *Tab) Navigate(ctx context.Context, url string) (string, error) {
	raw, err := t.b.Call(ctx, "browsingContext.navigate", map[string]any{"context": t.id, "url": url, "wait": "complete"})
	if err != nil {
		return "", err
	}
	var r struct{ URL string }
	err = json.Unmarshal(raw, &r)
	return r.URL, err
}

// SetViewport sets the page's viewport in CSS pixels, as a phone's screen.
func (t *Tab) SetViewport(ctx context.Context, width, height int) error {
	_, err := t.b.Call(ctx, "browsingContext.setViewport", map[string]any{"context": t.id, "viewport": map[string]int{"width": width, "height": height}})
	return err
}

// Screenshot returns a PNG of the whole document, beyond the viewport.
func (t *Tab) Screenshot(ctx context.Context) ([]byte, error) {
	raw, err := t.b.Call(ctx, "browsingContext.captureScreenshot", map[string]any{"context": t.id, "origin": "document"})
	if err != nil {
		return nil, err
	}
	var r struct{ Data string }
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// ErrException is the error Evaluate returns when the script throws.
var ErrException = errors.New("the script threw")

// missingStack starts the "unknown error" Firefox 140 answers now and then
// instead of an exception result, when it could not capture the stack of
// what the script threw: the script did throw (seen in CI under load, for
// a plain throw new Error).
const missingStack = "Missing stack, unable to build exceptionDetails for exception"

// Evaluate runs the JavaScript expression expr in the page, awaits it
// when it is a promise, and decodes its value, passed through
// JSON.stringify, into out (nil to drop it). Scripts run this way are the
// browser's, not the page's, so the page's Content-Security-Policy does
// not govern them.
func (t *Tab) Evaluate(ctx context.Context, expr string, out any) error {
	return t.run(ctx, "(async () => JSON.stringify(await ("+expr+")) ?? \"null\")()", out)
}

// Exec runs a script of statements, such as a library's source, in the
// page, and drops its value.
func (t *Tab) Exec(ctx context.Context, script string) error {
	return t.run(ctx, script+"\n;undefined", nil)
}

func (t *Tab) run(ctx context.Context, expr string, out any) error {
	raw, err := t.b.Call(ctx, "script.evaluate", map[string]any{
		"expression":      expr,
		"target":          map[string]any{"context": t.id},
		"awaitPromise":    true,
		"resultOwnership": "none",
	})
	if err != nil && strings.Contains(err.Error(), missingStack) {
		return fmt.Errorf("%w: %w", ErrException, err)
	}
	if err != nil {
		return err
	}
	var r struct {
		Type             string
		Result           struct{ Type, Value json.RawMessage }
		ExceptionDetails struct{ Text string }
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	if r.Type == "exception" {
		return fmt.Errorf("%w: %s", ErrException, r.ExceptionDetails.Text)
	}
	if out == nil {
		return nil
	}
	var s string
	if err := json.Unmarshal(r.Result.Value, &s); err != nil {
		return fmt.Errorf("the script's value is not a JSON string: %s", r.Result.Value)
	}
	return json.Unmarshal([]byte(s), out)
}

// WaitFor evaluates the boolean expression cond until it is true or ctx
// ends, polling, so that it outlasts a navigation a click started (the
// page's realm is replaced under it, which fails an evaluation or two).
func (t *Tab) WaitFor(ctx context.Context, cond string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		var ok bool
		err := t.Evaluate(ctx, "document.readyState === \"complete\" && ("+cond+")", &ok)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", cond, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// Click clicks the first element selector matches, as the page's own
// script would (HTMLElement.click), which submits a button's form.
func (t *Tab) Click(ctx context.Context, selector string) error {
	sel, _ := json.Marshal(selector)
	return t.Evaluate(ctx, `(() => {
		const e = document.querySelector(`+string(sel)+`);
		if (!e) throw new Error("nothing matches " + `+string(sel)+`);
		e.click();
		return true;
	})()`, nil)
}

// Fill sets the value of the field selector matches.
func (t *Tab) Fill(ctx context.Context, selector, value string) error {
	sel, _ := json.Marshal(selector)
	val, _ := json.Marshal(value)
	return t.Evaluate(ctx, `(() => {
		const e = document.querySelector(`+string(sel)+`);
		if (!e) throw new Error("nothing matches " + `+string(sel)+`);
		e.value = `+string(val)+`;
		return true;
	})()`, nil)
}

// Axe runs axe-core (test/browser's vendored copy) on the page and
// returns the rules it breaks. The script goes in through script.evaluate,
// which, like Chromium's Runtime.evaluate, the page's
// Content-Security-Policy does not govern; it is injected on each call,
// since a navigation forgets it.
func (t *Tab) Axe(ctx context.Context) ([]browser.Violation, error) {
	if err := t.Exec(ctx, browser.AxeSource()); err != nil {
		return nil, fmt.Errorf("inject axe-core: %w", err)
	}
	var vs []browser.Violation
	if err := t.Evaluate(ctx, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, description: v.description,
		nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html, summary: n.failureSummary || ""})),
	})))`, &vs); err != nil {
		return nil, fmt.Errorf("run axe-core: %w", err)
	}
	return vs, nil
}
