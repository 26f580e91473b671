package consolemail

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Mail is a message read back from an .eml file, decoded: headers without
// RFC 2047 encoding, bodies without transfer encoding. Tests, and people
// scripting against a development server, use it to find the link in a
// sign-up mail without a mail client.
type Mail struct {
	Path      string
	MessageID string // the header value, angle brackets included
	From      string // bare address
	To        []string
	ReplyTo   string // "" when the message has none
	Subject   string
	Text      string // "" when the message has no text/plain part
	HTML      string // "" when the message has no text/html part
	// Files holds the attached files by name and their decoded bytes;
	// nil when the message has none.
	Files map[string][]byte
}

// ReadDir reads every .eml file in dir, oldest message first: file names
// are message IDs, which sort by creation time.
func ReadDir(dir string) ([]Mail, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	slices.Sort(names)
	out := make([]Mail, 0, len(names))
	for _, name := range names {
		m, err := ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ReadFile parses one .eml file. It reads what this package writes (UTF-8,
// quoted-printable or base64, nested multiparts), attachments included.
func ReadFile(path string) (Mail, error) {
	f, err := os.Open(path)
	if err != nil {
		return Mail{}, fmt.Errorf("read mail: %w", err)
	}
	defer f.Close()
	m, err := parse(bufio.NewReader(f))
	if err != nil {
		return Mail{}, fmt.Errorf("read mail %s: %w", path, err)
	}
	m.Path = path
	return m, nil
}

func parse(r io.Reader) (Mail, error) {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return Mail{}, err
	}
	h := msg.Header
	out := Mail{MessageID: strings.TrimSpace(h.Get("Message-Id"))}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 {
		return Mail{}, fmt.Errorf("want one From address, got %q: %v", h.Get("From"), err)
	}
	out.From = from[0].Address
	to, err := h.AddressList("To")
	if err != nil {
		return Mail{}, fmt.Errorf("parse To: %w", err)
	}
	for _, a := range to {
		out.To = append(out.To, a.Address)
	}
	if h.Get("Reply-To") != "" {
		rt, err := h.AddressList("Reply-To")
		if err != nil || len(rt) != 1 {
			return Mail{}, fmt.Errorf("want one Reply-To address, got %q: %v", h.Get("Reply-To"), err)
		}
		out.ReplyTo = rt[0].Address
	}
	if out.Subject, err = new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil {
		return Mail{}, fmt.Errorf("decode Subject: %w", err)
	}
	if err := readPart(h, msg.Body, &out); err != nil {
		return Mail{}, err
	}
	return out, nil
}

// header is what mail.Header and textproto.MIMEHeader have in common.
type header interface{ Get(key string) string }

// readPart stores a text/plain or text/html body in out and walks into
// multiparts. The first part of each type wins, as in a mail client.
func readPart(h header, body io.Reader, out *Mail) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain" // RFC 2045's default
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("parse Content-Type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		// NextPart removes a quoted-printable transfer encoding itself.
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read %s part: %w", mediaType, err)
			}
			if err := readPart(p.Header, p, out); err != nil {
				return err
			}
		}
	}
	var dst *string
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	attached := disp == "attachment"
	switch {
	case attached:
	case mediaType == "text/plain" && out.Text == "":
		dst = &out.Text
	case mediaType == "text/html" && out.HTML == "":
		dst = &out.HTML
	default:
		return nil
	}
	switch cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); cte {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "", "7bit", "8bit", "binary":
	default:
		return fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("decode %s body: %w", mediaType, err)
	}
	if attached {
		// ParseMediaType decodes an RFC 2231 filename*; an RFC 2047
		// encoded word in a quoted filename is decoded here.
		name := dparams["filename"]
		if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			name = dec
		}
		if out.Files == nil {
			out.Files = map[string][]byte{}
		}
		out.Files[name] = b
		return nil
	}
	*dst = string(b)
	return nil
}
