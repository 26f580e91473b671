package domain_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestAPIKeyUpdate checks that a key is renamed and its scopes narrowed,
// never widened or emptied, and that a revoked key cannot change.
func TestAPIKeyUpdate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	newKey := func(t *testing.T) domain.APIKey {
		t.Helper()
		k, _, err := domain.NewAPIKey(domain.NewAPIKeyInput{Workspace: "wsp_1", Name: "CI", Scopes: []string{"forms:read", "content:read"}, CreatedBy: "usr_1"}, now)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	name := func(s string) *string { return &s }
	for _, tc := range []struct {
		name       string
		newName    *string
		scopes     []string
		wantName   string
		wantScopes []string
		wantCodes  []string // the field errors' codes, in order; none for success
	}{
		{"nothing", nil, nil, "CI", []string{"forms:read", "content:read"}, nil},
		{"rename", name(" Build "), nil, "Build", []string{"forms:read", "content:read"}, nil},
		{"narrow", nil, []string{"content:read"}, "CI", []string{"content:read"}, nil},
		{"same", nil, []string{"content:read", "forms:read"}, "CI", []string{"content:read", "forms:read"}, nil},
		{"widen", nil, []string{"forms:read", "forms:write"}, "", nil, []string{"scope_not_held"}},
		{"empty", nil, []string{}, "", nil, []string{"required"}},
		{"unknown", nil, []string{"root"}, "", nil, []string{"unknown_scope"}},
		{"bad name and widen", name(""), []string{"members:write"}, "", nil, []string{"invalid_name", "scope_not_held"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := newKey(t)
			err := k.Update(tc.newName, tc.scopes)
			if tc.wantCodes != nil {
				var de *domain.Error
				if !errors.As(err, &de) || de.Kind != domain.KindInvalid {
					t.Fatalf("Update = %v, want a validation error", err)
				}
				var codes []string
				for _, f := range de.Fields {
					codes = append(codes, f.Code)
				}
				if !slices.Equal(codes, tc.wantCodes) {
					t.Errorf("codes = %v, want %v", codes, tc.wantCodes)
				}
				if k.Name() != "CI" || len(k.Scopes()) != 2 {
					t.Errorf("a refused update changed the key: %q %v", k.Name(), k.Scopes())
				}
				return
			}
			if err != nil {
				t.Fatalf("Update = %v", err)
			}
			var got []string
			for _, p := range k.Scopes() {
				got = append(got, p.String())
			}
			if k.Name() != tc.wantName || !slices.Equal(got, tc.wantScopes) {
				t.Errorf("key = %q %v, want %q %v", k.Name(), got, tc.wantName, tc.wantScopes)
			}
		})
	}

	k := newKey(t)
	k.Revoke(now)
	if err := k.Update(nil, []string{"forms:read"}); !errors.Is(err, domain.ErrAPIKeyRevoked) {
		t.Errorf("Update of a revoked key = %v, want ErrAPIKeyRevoked", err)
	}
}

// TestAPIKeyRotate checks that a rotated key accepts its new secret, and
// its old one only before the grace period ends, and that the grace period
// is bounded.
func TestAPIKeyRotate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	k, token, err := domain.NewAPIKey(domain.NewAPIKeyInput{Workspace: "wsp_1", Name: "CI", Scopes: []string{"forms:read"}, CreatedBy: "usr_1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	_, old, _ := domain.ParseAPIKeyToken(token)
	newToken, err := k.Rotate(time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	prefix, secret, ok := domain.ParseAPIKeyToken(newToken)
	if !ok || prefix != k.Prefix() || secret == old {
		t.Fatalf("rotated token %q: want the same prefix %s and a new secret", newToken, k.Prefix())
	}
	if !k.Matches(secret) || k.Matches(old) {
		t.Error("the current secret is not the new one")
	}
	if !k.MatchesPrevious(old, now.Add(time.Hour-time.Microsecond)) || k.MatchesPrevious(old, now.Add(time.Hour)) || k.MatchesPrevious(secret, now) {
		t.Error("the old secret must match before the grace period ends, and only then")
	}

	for _, s := range []string{"-1s", "168h0m1s", "1 hour"} {
		if _, err := domain.ParseAPIKeyGrace(&s); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("ParseAPIKeyGrace(%q) = %v, want invalid", s, err)
		}
	}
	for s, want := range map[string]time.Duration{"0s": 0, "168h": 7 * 24 * time.Hour, "90m": 90 * time.Minute} {
		if d, err := domain.ParseAPIKeyGrace(&s); err != nil || d != want {
			t.Errorf("ParseAPIKeyGrace(%q) = %v, %v; want %v", s, d, err, want)
		}
	}
	if d, err := domain.ParseAPIKeyGrace(nil); err != nil || d != 24*time.Hour {
		t.Errorf("ParseAPIKeyGrace(nil) = %v, %v; want 24h", d, err)
	}

	if _, err := k.Rotate(0, now); err != nil || k.MatchesPrevious(secret, now) || k.PreviousUntil() != nil {
		t.Errorf("a rotation with no grace kept the replaced secret: %v", err)
	}
	k.Revoke(now)
	if _, err := k.Rotate(time.Hour, now); !errors.Is(err, domain.ErrAPIKeyRevoked) {
		t.Errorf("Rotate of a revoked key = %v, want ErrAPIKeyRevoked", err)
	}
}
