// Package consolemail is the zero-configuration ports.Mailer: instead of
// talking to a relay it writes each message as an RFC 5322 .eml file, which
// any mail client opens, and prints a one-line summary. It lets Keel run
// (sign-up mail, notifications) on a laptop with nothing else installed.
package consolemail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/wneessen/go-mail"

	"github.com/keelhq/keel/adapters/internal/mimemail"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var (
	_ ports.Mailer           = (*Mailer)(nil)
	_ ports.AttachmentMailer = (*Mailer)(nil)
)

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
	return c.send(ctx, m, mimemail.Compose(m, nil))
}

// SendWithAttachments writes m as Send does, with files attached
// (mimemail.ComposeWithFiles), so that the .eml file is what a relay
// would receive. A file that cannot be read leaves no .eml file and
// returns a KindUnavailable error: the dispatcher looks at the files
// again before it retries.
func (c *Mailer) SendWithAttachments(ctx context.Context, m domain.Message, files []ports.MailAttachment) error {
	return c.send(ctx, m, mimemail.ComposeWithFiles(ctx, m, nil, files))
}

func (c *Mailer) send(ctx context.Context, m domain.Message, msg *mail.Msg) error {
	if err := ctx.Err(); err != nil {
		return domain.ErrUnavailable.WithCause(fmt.Errorf("send message %s: %w", m.ID(), err))
	}
	path, err := c.write(m, msg)
	var rerr *readError
	if errors.As(err, &rerr) {
		return domain.ErrUnavailable.WithCause(fmt.Errorf("send message %s: %w", m.ID(), err))
	}
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

// readError is an attachment that could not be read while the message
// was written, as opposed to a directory that cannot be written.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// fileWriter remembers whether writing the file itself failed.
type fileWriter struct {
	w   io.Writer
	err error
}

func (f *fileWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		f.err = err
	}
	return n, err
}

func (c *Mailer) write(m domain.Message, msg *mail.Msg) (string, error) {
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
	fw := &fileWriter{w: f}
	_, err = msg.WriteTo(fw)
	if err != nil && fw.err == nil {
		err = &readError{err} // the file took every byte: an attachment failed
	}
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
