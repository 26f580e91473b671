// Package argon2id implements ports.PasswordHasher with Argon2id (RFC 9106)
// and stores hashes in the PHC string format, parameters included:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// salt and hash in unpadded standard base64. Hashes made with older, weaker
// parameters keep verifying and are reported for rehashing.
//
// # Unknown e-mails
//
// A login for an e-mail with no account must take as long as one with a
// wrong password, or response times tell attackers which e-mails have
// accounts. Verify the password against a valid hash of the current
// parameters and ignore the result: Hasher.DummyHash gives one. Code that
// holds only a ports.PasswordHasher does the same with a hash it makes once
// at start, Hash(ctx, <random string>), and keeps.
package argon2id

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Params are Argon2id's cost parameters and output sizes.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's first recommendation for Argon2id: 19 MiB,
// two passes, one lane; with a 16-byte salt and a 32-byte hash.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parameters, for New and for stored hashes alike: a corrupt or
// planted hash must not make Verify allocate gigabytes or spin for minutes.
const (
	minMemory, maxMemory   = 1024, 1024 * 1024 // 1 MiB to 1 GiB
	minTime, maxTime       = 1, 64
	minSaltLen, maxSaltLen = 8, 64
	minKeyLen, maxKeyLen   = 16, 128
)

// Validate reports parameters outside the bounds New accepts; callers
// that read parameters from configuration check them with it first.
func (p Params) Validate() error {
	switch {
	case p.Memory < minMemory || p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB outside [%d, %d]", p.Memory, minMemory, maxMemory)
	case p.Time < minTime || p.Time > maxTime:
		return fmt.Errorf("time %d outside [%d, %d]", p.Time, minTime, maxTime)
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("memory %d KiB below 8 KiB per thread", p.Memory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// weakerThan reports whether hashes made with p should be remade with q.
// Threads do not count: they change how the work is split, not how much
// memory and time a guess costs.
func (p Params) weakerThan(q Params) bool {
	return p.Memory < q.Memory || p.Time < q.Time || p.SaltLen < q.SaltLen || p.KeyLen < q.KeyLen
}

// Hasher is a ports.PasswordHasher. At most runtime.NumCPU() hashes run at
// once: each holds Params.Memory, so unbounded concurrency would let a
// burst of logins exhaust memory. Safe for concurrent use.
type Hasher struct {
	p     Params
	slots chan struct{}
	dummy func() (string, error)
}

var _ ports.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher that makes hashes with p. It panics when p is
// outside sane bounds (1 MiB to 1 GiB, 1 to 64 passes, salts of 8 to 64
// bytes, hashes of 16 to 128), as Params.Validate reports: parameters are
// constants or checked configuration, so a bad one is a programming error.
func New(p Params) *Hasher {
	if err := p.Validate(); err != nil {
		panic("argon2id.New: " + err.Error())
	}
	h := &Hasher{p: p, slots: make(chan struct{}, runtime.NumCPU())}
	h.dummy = sync.OnceValues(func() (string, error) {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms.
		return h.Hash(context.Background(), string(secret))
	})
	return h
}

// Hash returns the PHC string of password with a new random salt. It waits
// for a free hashing slot, returning a domain.KindUnavailable error if ctx
// ends first.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails on supported platforms.
	key, err := h.derive(ctx, password, salt, h.p)
	if err != nil {
		return "", err
	}
	return encode(h.p, salt, key), nil
}

// Verify reports whether password matches hash, comparing in constant
// time, and, when it matches, whether hash was made with weaker
// parameters than h's and should be replaced by Hash(password). A hash
// that is not an Argon2id PHC string within the parameter bounds is an
// error, as is ctx ending while waiting for a hashing slot
// (domain.KindUnavailable).
func (h *Hasher) Verify(ctx context.Context, password, hash string) (ok, rehash bool, err error) {
	p, salt, want, err := decode(hash)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, ok && p.weakerThan(h.p), nil
}

// DummyHash returns a hash, made with h's parameters on first use, of a
// random password nobody knows. Verifying against it costs what verifying
// a current hash costs and never matches: see the package documentation.
func (h *Hasher) DummyHash() (string, error) { return h.dummy() }

// Params returns the parameters h makes hashes with.
func (h *Hasher) Params() Params { return h.p }

func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, domain.ErrUnavailable.WithCause(fmt.Errorf("wait for a password hashing slot: %w", ctx.Err()))
	}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// errMalformed is wrapped by every parse failure. The hash itself is never
// quoted: it would put password material in logs.
var errMalformed = errors.New("malformed argon2id hash")

func decode(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: want 5 fields separated by $", errMalformed)
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: algorithm %q", errMalformed, truncate(parts[1]))
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %q", errMalformed, truncate(parts[2]))
	}
	if p, err = parseParams(parts[3]); err != nil {
		return p, nil, nil, err
	}
	if salt, err = b64.Strict().DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt: %v", errMalformed, err)
	}
	if key, err = b64.Strict().DecodeString(parts[5]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: hash: %v", errMalformed, err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.Validate(); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return p, salt, key, nil
}

// parseParams reads "m=<KiB>,t=<passes>,p=<lanes>", exactly in that order,
// as every Argon2 implementation writes it.
func parseParams(s string) (Params, error) {
	var p Params
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return p, fmt.Errorf("%w: parameters %q", errMalformed, truncate(s))
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || v != strconv.FormatUint(n, 10) { // no signs, no leading zeros
			return p, fmt.Errorf("%w: parameters %q", errMalformed, truncate(s))
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return p, fmt.Errorf("%w: %d threads", errMalformed, vals[2])
	}
	p.Memory, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	return p, nil
}

// truncate keeps a parse error readable when the input is huge.
func truncate(s string) string {
	if len(s) > 32 {
		return domain.TruncateUTF8(s, 32) + "…"
	}
	return s
}
