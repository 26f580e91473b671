// Package consolemail is the zero-configuration ports.Mailer: instead of
// talking to a relay it writes each message as an RFC 5322 .eml file, which
// any mail client opens, and prints a one-line summary. It lets Keel run
// (sign-up mail, notifications) on a laptop with nothing else installed.
package consolemail

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/keelhq/keel/adapters/internal/mimemail"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var _ ports.Mailer = (*Mailer)(nil)

// Mailer writes messages into a directory. It is safe for concurrent use.
type Mailer struct {
	dir string
	mu  sync.Mutex // keeps concurrent summary lines whole
	w   io.Writer
}

// New returns a Mailer that writes into dir, creating it with mode 0o700 on
// first use (messages hold personal data), and prints a summary line per
// message to w.
func New(dir string, w io.Writer) *Mailer {
	return &Mailer{dir: dir, w: w}
}

// Send writes m to <dir>/<message ID>.eml. A resend of the same message
// replaces the file, as it is the same message. The file appears whole or
// not at all: it is written under a temporary name and renamed. A done ctx
// returns a KindUnavailable error, so the dispatcher keeps the message; a
// directory that cannot be written returns an internal error.
func (c *Mailer) Send(ctx context.Context, m domain.Message) error {
	if err := ctx.Err(); err != nil {
		return domain.ErrUnavailable.WithCause(fmt.Errorf("send message %s: %w", m.ID(), err))
	}
	path, err := c.write(m)
	if err != nil {
		return fmt.Errorf("send message %s: %w", m.ID(), err)
	}
	to := make([]string, 0, len(m.To()))
	for _, a := range m.To() {
		to = append(to, a.Address)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The file is the delivery; the summary is a convenience, so a failing
	// writer (a closed terminal) does not fail the send.
	_, _ = fmt.Fprintf(c.w, "mail: to=%s subject=%q file=%s\n", strings.Join(to, ","), m.Subject(), path)
	return nil
}

func (c *Mailer) write(m domain.Message) (string, error) {
	id := m.ID()
	// The ID becomes a file name, so it must be one path element; NewMessage
	// guarantees that, but a zero Message has no ID at all.
	if !filepath.IsLocal(id) || strings.ContainsAny(id, `/\`) {
		return "", fmt.Errorf("message ID %q is not usable as a file name", id)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return "", fmt.Errorf("create mail directory: %w", err)
	}
	// The leading dot and the suffix keep half-written files out of ReadDir
	// and out of sight of people watching the directory.
	f, err := os.CreateTemp(c.dir, "."+id+"-*.tmp")
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	_, err = mimemail.Compose(m, nil).WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", tmp, err)
	}
	path := filepath.Join(c.dir, id+".eml")
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("rename to %s: %w", path, err)
	}
	return path, nil
}
