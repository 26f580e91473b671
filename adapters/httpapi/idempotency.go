package httpapi

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// DefaultIdempotencyTTL is how long a key and its response are kept when
// IdempotencyConfig.TTL is zero.
const DefaultIdempotencyTTL = 24 * time.Hour

// IdempotencyConfig configures Idempotency-Key on POST requests.
type IdempotencyConfig struct {
	// Store keeps the keys; nil leaves the header unread.
	Store ports.IdempotencyStore
	// TTL is how long a key is kept; zero is DefaultIdempotencyTTL.
	TTL time.Duration
	// IPHashKey keys the hash of an anonymous caller's IP that scopes its
	// keys, as the forms service's hash of a submitter's IP; set the same
	// on every node, or anonymous keys are per node.
	IPHashKey []byte
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

const (
	idempotencyKeyHeader = "Idempotency-Key"
	replayedHeader       = "Idempotent-Replayed"
	// maxIdempotencyKey bounds a key: a UUID is 36 characters.
	maxIdempotencyKey = 255
	// inProgressRetryAfter is the Retry-After of a 409: a request in
	// progress usually ends within a second.
	inProgressRetryAfter = "1"
	// saveTimeout bounds the save of a response, which runs even when the
	// client has gone: its key must not stay in progress for want of it.
	saveTimeout = 10 * time.Second
)

var (
	errInvalidIdempotencyKey = domain.E(domain.KindInvalid, "invalid_idempotency_key",
		"The Idempotency-Key header must be one value of 1 to 255 printable ASCII characters.")
	errIdempotencyKeyReused = domain.E(domain.KindInvalid, "idempotency_key_reused",
		"This Idempotency-Key was used for a different request (method, path, query, Content-Type or body); use a new key for a new request.")
	errIdempotencyInProgress = domain.E(domain.KindConflict, "idempotency_in_progress",
		"A request with this Idempotency-Key is still in progress, or ended without an answer; retry later.")
)

// storedHeaders are the response headers a replay repeats: those that
// describe the answer, and the ones that keep a stored HTML page (a
// browser's submission) as locked down as the first time. The others are
// the replaying request's own (X-Request-Id, CORS, Vary, rate limits).
var storedHeaders = []string{
	"Content-Type", "Location", "ETag", "Link", "Cache-Control", "WWW-Authenticate",
	"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
}

// idempotency makes POST requests with an Idempotency-Key safe to retry.
// The first request with a key runs with a claim on its context, which
// the database inserts in the transaction that commits the request's work
// (ports.IdempotencyClaim); its response is saved with the key before the
// client gets it. A later request with the key and the same fingerprint
// gets that response again, byte for byte, with Idempotent-Replayed:
// true; with another fingerprint, 422 idempotency_key_reused; while the
// key is committed without a response (its request is between commit and
// answer, or its process died there), 409 idempotency_in_progress. A
// request that writes nothing, such as one refused by validation before
// its transaction, leaves no key: its retry runs again.
//
// It runs after authenticate, since keys are scoped per credential, and
// renders a stored error itself (through problems and errorCORS), since
// those run after it.
func idempotency(cfg IdempotencyConfig, log *slog.Logger, cors *corsRules) *idempotent {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultIdempotencyTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &idempotent{cfg: cfg, log: log, cors: cors}
}

type idempotent struct {
	cfg  IdempotencyConfig
	log  *slog.Logger
	cors *corsRules
	// inFlight holds the keys whose requests run in this process, so
	// that a concurrent twin is answered 409 without running its use
	// case; twins on other nodes meet at the database.
	inFlight sync.Map
}

func (h *idempotent) handle(c *gin.Context) {
	if c.Request.Method != http.MethodPost {
		c.Next()
		return
	}
	values, ok := c.Request.Header[idempotencyKeyHeader]
	if !ok || c.FullPath() == mediaUploadRoute {
		// An upload streams to the blob store and is too large to keep
		// for a replay: it does not read the key (api/openapi.yaml).
		c.Next()
		return
	}
	if len(values) != 1 || !validIdempotencyKey(values[0]) {
		_ = c.Error(errInvalidIdempotencyKey)
		c.Abort()
		return
	}
	raw := values[0]
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		// Too large or cut off: the handler reports it, as without a key,
		// and nothing can be written.
		c.Request.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		c.Next()
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))

	scope := h.scope(c)
	key := ports.IdempotencyKey{Scope: scope, Key: hashIdempotencyKey(raw)}
	fp := fingerprint(c.Request, body)
	flight := scope + "\x00" + key.Key
	if _, busy := h.inFlight.LoadOrStore(flight, struct{}{}); busy {
		inProgress(c)
		return
	}
	defer h.inFlight.Delete(flight)

	// The key is not looked up first: the claim that the request's
	// transaction inserts finds a record already there (and rolls the
	// transaction back), which costs nothing when, as nearly always, there
	// is none; a lookup before every request cost a fifth of a
	// submission's time. The record is read only when the request did not
	// commit its claim.
	now := h.cfg.Now()
	claim := &ports.IdempotencyClaim{Key: key, Fingerprint: fp, CreatedAt: now, ExpiresAt: now.Add(h.cfg.TTL)}
	c.Request = c.Request.WithContext(ports.WithIdempotencyClaim(c.Request.Context(), claim))
	w := c.Writer
	buf := newBufferedWriter(w)
	func() {
		// Restored however the handlers end: recovery renders a panic's
		// 500 on the real writer, not into a buffer nobody flushes.
		defer func() { c.Writer = w }()
		c.Writer = buf
		c.Next()
	}()

	switch {
	case claim.Committed():
		if len(c.Errors) > 0 && !buf.Written() {
			// problems and errorCORS run after this middleware: render
			// the error now, so that its bytes are the ones stored.
			c.Writer = buf
			errorCORS(h.cors)(c)
			problems(h.log)(c)
			c.Writer = w
		}
		afterCommit()
		h.save(c, key, raw, buf)
	default:
		// No transaction of this request committed its claim: a twin or
		// an earlier request with the key committed first (the claim was
		// taken), or this one wrote nothing, maybe because an earlier
		// one's work stands in its way (a retried workspace's slug is
		// taken by the first try). A record of the key answers in its
		// place; without one, this request's own answer stands and the
		// key stays free.
		rec, err := h.cfg.Store.GetIdempotency(context.WithoutCancel(c.Request.Context()), key, now)
		switch {
		case err == nil:
			c.Errors = c.Errors[:0]
			h.answer(c, rec, fp, raw)
			return
		case claim.Taken():
			// Taken, and the record is gone or unreadable: a twin's
			// work stands, so this request's answer must not.
			c.Errors = c.Errors[:0]
			inProgress(c)
			return
		case !errors.Is(err, domain.ErrNotFound):
			h.log.ErrorContext(c.Request.Context(), "idempotency: read key", "route", c.FullPath(), "err", err)
		}
	}
	buf.flush()
}

// save stores buf's response with key, logging a failure: the client
// gets its answer either way, and its retries get 409 until the key
// expires.
func (h *idempotent) save(c *gin.Context, key ports.IdempotencyKey, raw string, buf *bufferedWriter) {
	stored := storedResponse{Header: http.Header{}, Body: buf.body.Bytes()}
	for _, name := range storedHeaders {
		if v := buf.header.Values(name); len(v) > 0 {
			stored.Header[name] = v
		}
	}
	sealed, err := seal(key.Scope, raw, stored)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), saveTimeout)
		err = h.cfg.Store.SaveIdempotentResponse(ctx, key, buf.Status(), sealed)
		cancel()
	}
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "idempotency: response not stored; retries get 409 until the key expires",
			"route", c.FullPath(), "err", err)
	}
}

// answer answers a request whose key has a record: the stored response
// if the request is the same, else the matching error.
func (h *idempotent) answer(c *gin.Context, rec ports.IdempotencyRecord, fp []byte, raw string) {
	switch {
	case !hmac.Equal(rec.Fingerprint, fp):
		_ = c.Error(errIdempotencyKeyReused)
		c.Abort()
		return
	case rec.Status == 0:
		inProgress(c)
		return
	}
	stored, err := unseal(rec.Key.Scope, raw, rec.Response)
	if err != nil {
		_ = c.Error(fmt.Errorf("replay idempotent response: %w", err))
		c.Abort()
		return
	}
	hd := c.Writer.Header()
	for name, v := range stored.Header {
		hd[name] = v
	}
	hd.Set(replayedHeader, "true")
	if c.GetHeader("Origin") != "" {
		// A public route's CORS headers follow the replaying request's
		// Origin, as its handler would have set them, and let a script
		// read Idempotent-Replayed, which only replays carry.
		if apply := h.cors.routes[c.FullPath()]; apply != nil {
			apply(c, "")
			if v := hd.Get("Access-Control-Expose-Headers"); v != "" {
				hd.Set("Access-Control-Expose-Headers", v+", "+replayedHeader)
			}
		}
	}
	c.Writer.WriteHeader(rec.Status)
	c.Writer.WriteHeaderNow()
	_, _ = c.Writer.Write(stored.Body)
	c.Abort()
}

func inProgress(c *gin.Context) {
	c.Header("Retry-After", inProgressRetryAfter)
	_ = c.Error(errIdempotencyInProgress)
	c.Abort()
}

// scope names the caller a key belongs to: the API key, the user behind
// a session, or for anonymous callers a keyed hash of the client's IP.
func (h *idempotent) scope(c *gin.Context) string {
	p := principal(c)
	switch {
	case p.IsAPIKey():
		return "key:" + string(p.APIKey())
	case !p.IsAnonymous():
		return "user:" + string(p.User())
	}
	m := hmac.New(sha256.New, h.cfg.IPHashKey)
	m.Write([]byte(c.ClientIP()))
	return "ip:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// validIdempotencyKey accepts 1 to 255 printable ASCII characters.
func validIdempotencyKey(s string) bool {
	if len(s) == 0 || len(s) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// hashIdempotencyKey is what the database stores instead of the key: the
// key also derives the key that seals the stored response (seal), which
// the database must not hold.
func hashIdempotencyKey(raw string) string {
	s := sha256.Sum256([]byte("keel idempotency key\x00" + raw))
	return hex.EncodeToString(s[:])
}

// fingerprint identifies a request: its method, path and query,
// Content-Type and body. The same key with another fingerprint is a
// client's mistake, never a retry.
func fingerprint(r *http.Request, body []byte) []byte {
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), strconv.Itoa(len(body))} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	return h.Sum(nil)
}

// storedResponse is what a replay writes besides its status.
type storedResponse struct {
	Header http.Header `json:"h"`
	Body   []byte      `json:"b"`
}

// seal encrypts a response with AES-256-GCM under a key derived from the
// scope and the Idempotency-Key, which the database does not hold (it
// keeps a hash of the key): responses carry login tokens and API key
// secrets, which Keel otherwise stores only hashed, so that a copy of the
// database does not reveal them. Random keys (UUIDs) make this strong; a
// guessable Idempotency-Key makes it as weak as the key.
func seal(scope, raw string, r storedResponse) ([]byte, error) {
	plain, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	aead, err := responseCipher(scope, raw)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, nil), nil
}

// unseal reverses seal.
func unseal(scope, raw string, sealed []byte) (storedResponse, error) {
	var r storedResponse
	aead, err := responseCipher(scope, raw)
	if err != nil {
		return r, err
	}
	if len(sealed) < aead.NonceSize() {
		return r, errors.New("stored response too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return r, fmt.Errorf("open stored response: %w", err)
	}
	if err := json.Unmarshal(plain, &r); err != nil {
		return r, fmt.Errorf("decode stored response: %w", err)
	}
	return r, nil
}

func responseCipher(scope, raw string) (cipher.AEAD, error) {
	k := sha256.Sum256([]byte("keel idempotency response\x00" + scope + "\x00" + raw))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// bufferedWriter holds a response until it is stored: the client must not
// see an answer that a retry could not get again. Its header map is a copy
// of the real one, so that a response that is thrown away (its key taken
// by a twin) leaves no header behind.
type bufferedWriter struct {
	gin.ResponseWriter // the real writer, for what buffering does not change
	header             http.Header
	status             int
	statusSet, written bool
	body               bytes.Buffer
}

func newBufferedWriter(w gin.ResponseWriter) *bufferedWriter {
	return &bufferedWriter{ResponseWriter: w, header: w.Header().Clone(), status: http.StatusOK}
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(code int) {
	if code > 0 && !w.written {
		w.status, w.statusSet = code, true
	}
}

func (w *bufferedWriter) WriteHeaderNow() { w.written = true }

func (w *bufferedWriter) Write(b []byte) (int, error) {
	w.written = true
	return w.body.Write(b)
}

func (w *bufferedWriter) WriteString(s string) (int, error) {
	w.written = true
	return w.body.WriteString(s)
}

func (w *bufferedWriter) Status() int   { return w.status }
func (w *bufferedWriter) Written() bool { return w.written }

func (w *bufferedWriter) Size() int {
	if !w.written {
		return -1
	}
	return w.body.Len()
}

// Flush does nothing: the response leaves in one piece, in flush.
func (w *bufferedWriter) Flush() {}

// flush writes the buffered response to the real writer, replacing its
// headers with the handler's.
func (w *bufferedWriter) flush() {
	hd := w.ResponseWriter.Header()
	clear(hd)
	for k, v := range w.header {
		hd[k] = v
	}
	if w.statusSet {
		w.ResponseWriter.WriteHeader(w.status)
	}
	if w.written {
		w.ResponseWriter.WriteHeaderNow()
		_, _ = w.ResponseWriter.Write(w.body.Bytes())
	}
}
