package bootstrap

import (
	"github.com/spf13/pflag"

	"github.com/keelhq/keel/domain"
)

// sSecretKey keys the sealing of the secrets Keel must read back, the
// TOTP secrets of two-factor authentication. It has no random default: a
// key that changed with each restart would lock every enrolled user out.
// On SQLite a key file in the data directory stands in for it
// (resolveSecretKey, secretkey.go).
var sSecretKey = setting{"secret-key", "KEEL_SECRET_KEY", "", "secret (32+ characters) that encrypts two-factor secrets at rest; set the same on every node (default: on SQLite, the key in secret.key in the data directory, created on first start; on PostgreSQL none, and two-factor enrolment is off)"}

// loadSecretKey returns the sealer of KEEL_SECRET_KEY, nil when unset.
func loadSecretKey(fs *pflag.FlagSet, getenv func(string) string) (*domain.SecretSealer, error) {
	k := value(fs, getenv, sSecretKey)
	if k == "" {
		return nil, nil
	}
	s, err := domain.NewSecretSealer(k)
	if err != nil {
		return nil, sSecretKey.errorf("use at least %d characters", domain.MinSecretKeyLen)
	}
	return s, nil
}
