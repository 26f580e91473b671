package bootstrap

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/domain"
)

// secretKeyFile is the name of the key file in the data directory that
// stands in for KEEL_SECRET_KEY on SQLite. It lives beside the database,
// never in it, so that a copy of the database alone does not open the
// secrets sealed under it.
const secretKeyFile = "secret.key"

// secretKeyBytes is how much randomness a new key file holds; it is
// written as hexadecimal text, twice as many characters, which is also a
// valid KEEL_SECRET_KEY: an operator who moves to the setting sets it to
// the file's content and every sealed secret still opens.
const secretKeyBytes = 32

// resolveSecretKey returns the sealer of the instance's secret key:
// KEEL_SECRET_KEY when set; otherwise, on SQLite, the key in the data
// directory's key file, created on first start; otherwise (PostgreSQL) nil,
// which leaves two-factor enrolment off.
//
// PostgreSQL gets no key file because its nodes share one database but not
// one disk: a key file per node would seal each node's secrets under its
// own key, which the other nodes could not open, and a user who enrolled
// through one node could not log in through another. SQLite's database
// belongs to one machine, whose data directory can hold the key.
func resolveSecretKey(flags *pflag.FlagSet, getenv func(string) string, sc storeConfig) (*domain.SecretSealer, error) {
	if value(flags, getenv, sSecretKey) != "" || isPostgres(sc.databaseURL) {
		return loadSecretKey(flags, getenv)
	}
	key, err := readOrCreateKeyFile(filepath.Join(sc.dataDir, secretKeyFile))
	if err != nil {
		return nil, sSecretKey.errorf("%v", err)
	}
	return domain.NewSecretSealer(key)
}

// isPostgres tells a PostgreSQL database URL (checkDatabaseURL accepted it
// already) from a SQLite one.
func isPostgres(databaseURL string) bool {
	scheme, _, _ := strings.Cut(databaseURL, ":")
	return scheme == "postgres" || scheme == "postgresql"
}

// warnNoSecretKey logs, once at start-up, why two-factor authentication
// is off: only PostgreSQL without KEEL_SECRET_KEY leaves the sealer nil.
func warnNoSecretKey(log *slog.Logger, sealer *domain.SecretSealer) {
	if sealer == nil {
		log.Warn("two-factor authentication is off: KEEL_SECRET_KEY is not set; on PostgreSQL set the same secret on every node to turn it on")
	}
}

// readOrCreateKeyFile returns the key in path, creating the file with a
// new random key when it does not exist. Errors name the file and never
// include its content.
func readOrCreateKeyFile(path string) (string, error) {
	key, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKeyFile(path); err != nil {
		return "", err
	}
	// Read back what is in place, which another process starting at the
	// same moment may have written first.
	return readKeyFile(path)
}

// readKeyFile reads and checks a key file. A file that others may read is
// refused rather than used: the key opens every sealed secret, and a
// key another user of the machine may have copied is no longer secret.
// A malformed file is refused rather than replaced: replacing it would
// lock out everyone who enrolled under the key it held.
func readKeyFile(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("key file %s is not a regular file", path)
	}
	// Windows has no such permission bits; its ACLs are the operator's.
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("key file %s has mode %04o, which lets other users read it: make it 0600 (chmod 600 %s) after checking who may have copied it", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read key file %s: %w", path, unwrapPath(err))
	}
	key := strings.TrimSpace(string(b))
	if raw, err := hex.DecodeString(key); err != nil || len(raw) != secretKeyBytes {
		return "", fmt.Errorf("key file %s is malformed: want %d hexadecimal characters; restore it from a backup (a new key would make every two-factor secret sealed under the old one unreadable)", path, 2*secretKeyBytes)
	}
	return key, nil
}

// createKeyFile writes a new random key to path atomically: to a temporary
// file in the same directory (mode 0600 from the start, synced), which is
// then linked into place. A link, unlike a rename, never replaces a file
// that is already there, so two processes starting at once on a fresh data
// directory end up sharing the first one's key rather than each using its
// own. Filesystems without hard links get a rename instead.
func createKeyFile(path string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key file %s: %w", path, unwrapPath(err))
	}
	raw := make([]byte, secretKeyBytes)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails on supported platforms.
	tmp, err := os.CreateTemp(dir, "."+secretKeyFile+"-*")
	if err != nil {
		return fmt.Errorf("create key file %s: %w", path, unwrapPath(err))
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.WriteString(hex.EncodeToString(raw) + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write key file %s: %w", path, unwrapPath(err))
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("create key file %s: %w", path, unwrapPath(err))
		}
	}
	// Sync the directory so that the new name survives a crash; the
	// key file's absence after one would mean a new key and lost secrets.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// unwrapPath drops a *fs.PathError's path, which the messages above
// already name, so that the temporary file's name does not clutter them.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
