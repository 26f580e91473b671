package argon2id_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/keelhq/keel/adapters/argon2id"
)

// fast are the cheapest parameters New accepts, for tests that are not
// about the cost.
var fast = argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, p argon2id.Params) *argon2id.Hasher {
	t.Helper()
	return argon2id.New(p)
}

func hash(t *testing.T, h *argon2id.Hasher, password string) string {
	t.Helper()
	s, err := h.Hash(t.Context(), password)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return s
}

func verify(t *testing.T, h *argon2id.Hasher, password, s string, wantOK, wantRehash bool) {
	t.Helper()
	ok, rehash, err := h.Verify(t.Context(), password, s)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if ok != wantOK || rehash != wantRehash {
		t.Errorf("Verify = ok %v, rehash %v; want ok %v, rehash %v", ok, rehash, wantOK, wantRehash)
	}
}

func TestRoundTripDefaultParams(t *testing.T) {
	t.Parallel()
	h := newHasher(t, argon2id.DefaultParams)
	s := hash(t, h, "correct horse battery staple")
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(s) {
		t.Errorf("Hash = %q, not a PHC string with the default parameters", s)
	}
	verify(t, h, "correct horse battery staple", s, true, false)
	verify(t, h, "correct horse battery stapler", s, false, false)
}

func TestSaltsDiffer(t *testing.T) {
	t.Parallel()
	h := newHasher(t, fast)
	if a, b := hash(t, h, "same password"), hash(t, h, "same password"); a == b {
		t.Errorf("two hashes of one password are equal: %s", a)
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	h := newHasher(t, fast)
	s := hash(t, h, "password one")
	for _, pw := range []string{"password two", "", "password one ", "Password one"} {
		verify(t, h, pw, s, false, false)
	}
}

func TestTamperedHash(t *testing.T) {
	t.Parallel()
	h := newHasher(t, fast)
	s := hash(t, h, "hunter2hunter2")
	parts := strings.Split(s, "$") // "", argon2id, v=19, params, salt, key
	flip := func(b64 string) string {
		c := byte('A')
		if b64[5] == 'A' {
			c = 'B'
		}
		return b64[:5] + string(c) + b64[6:]
	}
	for name, tampered := range map[string]string{
		"Key":    strings.Join(append(parts[:5:5], flip(parts[5])), "$"),
		"Salt":   strings.Join([]string{"", parts[1], parts[2], parts[3], flip(parts[4]), parts[5]}, "$"),
		"Memory": strings.Replace(s, "m=1024,", "m=1025,", 1),
		"Time":   strings.Replace(s, "t=1,", "t=2,", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if tampered == s {
				t.Fatal("tampering changed nothing")
			}
			verify(t, h, "hunter2hunter2", tampered, false, false)
		})
	}
}

func TestRehash(t *testing.T) {
	t.Parallel()
	old := newHasher(t, fast)
	cur := newHasher(t, argon2id.Params{Memory: 2048, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32})
	s := hash(t, old, "an old password")
	t.Run("WeakerParams", func(t *testing.T) {
		verify(t, cur, "an old password", s, true, true)
	})
	t.Run("OnlyForTheRightPassword", func(t *testing.T) {
		verify(t, cur, "a wrong password", s, false, false)
	})
	t.Run("SameParams", func(t *testing.T) {
		verify(t, old, "an old password", s, true, false)
	})
	t.Run("StrongerParamsAreKept", func(t *testing.T) {
		verify(t, old, "a new password", hash(t, cur, "a new password"), true, false)
	})
	t.Run("ShorterKey", func(t *testing.T) {
		short := newHasher(t, argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 16})
		verify(t, old, "pw with a short key", hash(t, short, "pw with a short key"), true, true)
	})
	t.Run("ThreadsDoNotCount", func(t *testing.T) {
		two := newHasher(t, argon2id.Params{Memory: 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32})
		verify(t, old, "two lanes", hash(t, two, "two lanes"), true, false)
	})
}

// TestForeignHash checks a hash made by the reference implementation:
// echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -e (m=2^16 KiB).
// Its 8-byte salt is shorter than DefaultParams' 16, so it is due a rehash.
func TestForeignHash(t *testing.T) {
	t.Parallel()
	h := newHasher(t, argon2id.DefaultParams)
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	verify(t, h, "password", ref, true, true)
	verify(t, h, "Password", ref, false, false)
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	h := newHasher(t, fast)
	good := hash(t, h, "a good password")
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for name, s := range map[string]string{
		"Empty":           "",
		"Plain":           "a good password",
		"Bcrypt":          "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"Argon2i":         with(1, "argon2i"),
		"Version16":       with(2, "v=16"),
		"NoVersion":       strings.Join(append(parts[:2:2], parts[3:]...), "$"),
		"ExtraField":      good + "$x",
		"ParamsReordered": with(3, "t=1,m=1024,p=1"),
		"ParamsMissing":   with(3, "m=1024,t=1"),
		"LeadingZero":     with(3, "m=01024,t=1,p=1"),
		"Signed":          with(3, "m=+1024,t=1,p=1"),
		"Negative":        with(3, "m=-1,t=1,p=1"),
		"ZeroTime":        with(3, "m=1024,t=0,p=1"),
		"ZeroThreads":     with(3, "m=1024,t=1,p=0"),
		"TooManyThreads":  with(3, "m=1024,t=1,p=256"),
		"HugeMemory":      with(3, "m=4294967295,t=1,p=1"), // must fail before allocating 4 TiB
		"HugeTime":        with(3, "m=1024,t=100000,p=1"),
		"SaltNotBase64":   with(4, "not base64!"),
		"SaltPadded":      with(4, parts[4]+"=="),
		"SaltTooShort":    with(4, "c2FsdA"),
		"KeyNotBase64":    with(5, "***"),
		"KeyTooShort":     with(5, "c2hvcnQ"),
		"KeyEmpty":        with(5, ""),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := h.Verify(t.Context(), "a good password", s)
			if err == nil || ok || rehash {
				t.Fatalf("Verify(%q) = %v, %v, %v; want an error", s, ok, rehash, err)
			}
			if len(s) > 40 && strings.Contains(err.Error(), s) {
				t.Errorf("error quotes the hash: %v", err)
			}
		})
	}
}

func TestBadParams(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]argon2id.Params{
		"Zero":        {},
		"LowMemory":   {Memory: 512, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		"HugeMemory":  {Memory: 1 << 21, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		"NoTime":      {Memory: 1024, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		"NoThreads":   {Memory: 1024, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		"ShortSalt":   {Memory: 1024, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		"ShortKey":    {Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
		"ManyThreads": {Memory: 1024, Time: 1, Threads: 255, SaltLen: 16, KeyLen: 32},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: Validate(%+v) = nil, want an error", name, p)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New(%+v) did not panic", name, p)
				}
			}()
			argon2id.New(p)
		}()
	}
	if err := argon2id.DefaultParams.Validate(); err != nil {
		t.Errorf("DefaultParams.Validate() = %v", err)
	}
}

func TestDummyHash(t *testing.T) {
	t.Parallel()
	h := newHasher(t, fast)
	d, err := h.DummyHash()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := h.DummyHash(); again != d {
		t.Errorf("DummyHash changed: %q, then %q", d, again)
	}
	if !strings.HasPrefix(d, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("DummyHash = %q, want the hasher's parameters", d)
	}
	for _, pw := range []string{"", "password", d} {
		verify(t, h, pw, d, false, false)
	}
}

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, argon2id.DefaultParams)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/hash")
}

func BenchmarkHashParallel(b *testing.B) {
	h := newHasher(b, argon2id.DefaultParams)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
