package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// formStore implements ports.FormStore.
type formStore struct{ *stores }

const formColumns = `id, workspace_id, name, status, definition, retention_days, created_at, updated_at`

// formDef is domain.FormInput as the definition column stores it. The
// domain carries no JSON tags, so the stored shape is spelled out here and
// survives renames in the domain.
type formDef struct {
	Name           string       `json:"name"`
	Status         string       `json:"status"`
	Fields         []fieldDef   `json:"fields"`
	Notify         notifyDef    `json:"notify"`
	Autoresponder  autoreplyDef `json:"autoresponder"`
	Redirects      redirectsDef `json:"redirects"`
	AllowedOrigins []string     `json:"allowed_origins"`
	Honeypot       string       `json:"honeypot"`
	RetentionDays  int          `json:"retention_days"`
	// MaxLinks is absent from definitions stored before forms had their
	// own link threshold, which read as nil: the instance's rule.
	MaxLinks *int `json:"max_links,omitempty"`
}

type fieldDef struct {
	Name      string   `json:"name"`
	Label     string   `json:"label"`
	Type      string   `json:"type"`
	Required  bool     `json:"required"`
	MinLength *int     `json:"min_length"`
	MaxLength *int     `json:"max_length"`
	Min       *float64 `json:"min"`
	Max       *float64 `json:"max"`
	Pattern   string   `json:"pattern"`
	Options   []string `json:"options"`
	// A file field's limits; other fields leave them out.
	MaxFiles    int      `json:"max_files,omitempty"`
	MaxFileSize int64    `json:"max_file_size,omitempty"`
	Accept      []string `json:"accept,omitempty"`
}

type notifyDef struct {
	Recipients []string `json:"recipients"`
	Subject    string   `json:"subject"`
	// AttachFilesMaxBytes is left out at 0, so that definitions stored
	// before it existed and those that never attach read alike.
	AttachFilesMaxBytes int64 `json:"attach_files_max_bytes,omitempty"`
}

type autoreplyDef struct {
	Enabled    bool   `json:"enabled"`
	EmailField string `json:"email_field"`
	Subject    string `json:"subject"`
	Text       string `json:"text"`
	HTML       string `json:"html"`
}

type redirectsDef struct {
	Success string `json:"success"`
	Error   string `json:"error"`
}

func toFormDef(in domain.FormInput) formDef {
	d := formDef{
		Name: in.Name, Status: in.Status,
		Notify:         notifyDef{Recipients: in.Notify.Recipients, Subject: in.Notify.Subject, AttachFilesMaxBytes: in.Notify.AttachFilesMaxBytes},
		Autoresponder:  autoreplyDef(in.Autoresponder),
		Redirects:      redirectsDef(in.Redirects),
		AllowedOrigins: in.AllowedOrigins, Honeypot: in.Honeypot, RetentionDays: in.RetentionDays,
		MaxLinks: in.MaxLinks,
	}
	for _, f := range in.Fields {
		d.Fields = append(d.Fields, fieldDef{
			Name: f.Name, Label: f.Label, Type: f.Type.String(), Required: f.Required,
			MinLength: f.MinLength, MaxLength: f.MaxLength, Min: f.Min, Max: f.Max, Pattern: f.Pattern, Options: f.Options,
			MaxFiles: f.MaxFiles, MaxFileSize: f.MaxFileSize, Accept: f.Accept,
		})
	}
	return d
}

// toDomain returns the definition; an unknown field type is an error
// rather than a field silently turned into another type.
func (d formDef) toDomain() (domain.FormInput, error) {
	in := domain.FormInput{
		Name: d.Name, Status: d.Status,
		Notify:         domain.Notify{Recipients: d.Notify.Recipients, Subject: d.Notify.Subject, AttachFilesMaxBytes: d.Notify.AttachFilesMaxBytes},
		Autoresponder:  domain.Autoresponder(d.Autoresponder),
		Redirects:      domain.Redirects(d.Redirects),
		AllowedOrigins: d.AllowedOrigins, Honeypot: d.Honeypot, RetentionDays: d.RetentionDays,
		MaxLinks: d.MaxLinks,
	}
	for _, f := range d.Fields {
		t, ok := domain.ParseFieldType(f.Type)
		if !ok {
			return domain.FormInput{}, fmt.Errorf("field %s: unknown type %q", f.Name, f.Type)
		}
		in.Fields = append(in.Fields, domain.Field{
			Name: f.Name, Label: f.Label, Type: t, Required: f.Required,
			MinLength: f.MinLength, MaxLength: f.MaxLength, Min: f.Min, Max: f.Max, Pattern: f.Pattern, Options: f.Options,
			MaxFiles: f.MaxFiles, MaxFileSize: f.MaxFileSize, Accept: f.Accept,
		})
	}
	return in, nil
}

type formRow struct {
	id, workspaceID, name, status, definition string
	retentionDays                             int
	createdAt, updatedAt                      time.Time
}

// toDomain rebuilds the form from its definition, which recompiles its
// patterns and templates; the name, status and retention_days columns
// are copies for queries and are not read back.
func (r formRow) toDomain() (domain.Form, error) {
	var d formDef
	if err := json.Unmarshal([]byte(r.definition), &d); err != nil {
		return domain.Form{}, fmt.Errorf("form %s: definition: %w", r.id, err)
	}
	in, err := d.toDomain()
	if err != nil {
		return domain.Form{}, fmt.Errorf("form %s: definition: %w", r.id, err)
	}
	f, err := domain.RehydrateForm(domain.FormID(r.id), domain.WorkspaceID(r.workspaceID), in, r.createdAt, r.updatedAt)
	if err != nil {
		return domain.Form{}, fmt.Errorf("form %s: %w", r.id, err)
	}
	return f, nil
}

func scanForm(sc scanner) (domain.Form, error) {
	var r formRow
	err := sc.Scan(&r.id, &r.workspaceID, &r.name, &r.status, &r.definition, &r.retentionDays, &r.createdAt, &r.updatedAt)
	if err != nil {
		return domain.Form{}, err
	}
	return compiledForms.load(r)
}

// formCache keeps the forms rebuilt from their rows. Rebuilding compiles
// the form's patterns and parses its templates, which costs more than the
// rest of a submission's transaction; the public endpoint reads its form
// on every submission. An entry is used only when the row read now is
// identical to the one it was built from, so an edit on any node is seen
// at the next read: the cache saves work, never a query.
type formCache struct {
	m    sync.Map // form ID → cachedForm
	size atomic.Int64
}

type cachedForm struct {
	row  formRow
	form domain.Form
}

// maxCachedForms bounds the cache; past it, it starts again empty.
const maxCachedForms = 10_000

var compiledForms = &formCache{}

func (c *formCache) load(r formRow) (domain.Form, error) {
	if v, ok := c.m.Load(r.id); ok {
		if e := v.(cachedForm); e.row == r {
			return e.form, nil
		}
	}
	f, err := r.toDomain()
	if err != nil {
		return domain.Form{}, err
	}
	if c.size.Add(1) > maxCachedForms {
		c.m.Clear()
		c.size.Store(0)
	}
	c.m.Store(r.id, cachedForm{row: r, form: f})
	return f, nil
}

func encodeForm(f domain.Form) (string, error) {
	b, err := json.Marshal(toFormDef(f.Definition()))
	return string(b), err
}

func (s formStore) Add(ctx context.Context, f domain.Form) error {
	def, err := encodeForm(f)
	if err != nil {
		return fmt.Errorf("add form %s: %w", f.ID(), err)
	}
	_, err = s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO forms (`+formColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		f.ID().String(), f.Workspace().String(), f.Name(), f.Status().String(), def, f.RetentionDays(), f.CreatedAt(), f.UpdatedAt())
	if err != nil {
		return fmt.Errorf("add form %s: %w", f.ID(), err)
	}
	return nil
}

func (s formStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) (domain.Form, error) {
	f, err := scanForm(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+formColumns+` FROM forms WHERE workspace_id = ? AND id = ?`),
		ws.String(), id.String()))
	if isNoRows(err) {
		return domain.Form{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Form{}, fmt.Errorf("get form %s: %w", id, err)
	}
	return f, nil
}

func (s formStore) GetPublic(ctx context.Context, id domain.FormID) (domain.Form, error) {
	f, err := scanForm(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+formColumns+` FROM forms WHERE id = ?`), id.String()))
	if isNoRows(err) {
		return domain.Form{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Form{}, fmt.Errorf("get form %s: %w", id, err)
	}
	return f, nil
}

func (s formStore) UpdatedAt(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) (time.Time, error) {
	// A shared transaction reads it once for all its submissions to the
	// form (sharedtx.go).
	at, err := remember(s.stores, "forms.updated_at\x00"+ws.String()+"\x00"+id.String(), func() (at time.Time, err error) {
		if s.shared == nil {
			err = s.q.QueryRowContext(ctx, s.d.rebind(`SELECT updated_at FROM forms WHERE workspace_id = ? AND id = ?`), ws.String(), id.String()).Scan(&at)
			return at, err
		}
		// A submission checks its form and then, with its event, looks
		// up the workspace's webhooks (deliveriesOf): in a shared batch,
		// where round trips are most of what a statement costs, one
		// statement reads both, and the webhooks are remembered too.
		var eps string
		err = s.q.QueryRowContext(ctx, `SELECT f.updated_at, COALESCE((SELECT json_agg(json_build_array(w.id, w.events))
			FROM webhooks w WHERE w.workspace_id = f.workspace_id AND w.enabled), '[]')
			FROM forms f WHERE f.workspace_id = $1 AND f.id = $2`, ws.String(), id.String()).Scan(&at, &eps)
		if err == nil {
			err = rememberWebhooks(s.stores, ws, eps)
		}
		return at, err
	})
	if isNoRows(err) {
		return time.Time{}, domain.ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("get form %s: %w", id, err)
	}
	return at.UTC(), nil
}

func (s formStore) Update(ctx context.Context, f domain.Form) error {
	def, err := encodeForm(f)
	if err != nil {
		return fmt.Errorf("update form %s: %w", f.ID(), err)
	}
	res, err := s.q.ExecContext(ctx, s.d.rebind(
		`UPDATE forms SET name = ?, status = ?, definition = ?, retention_days = ?, updated_at = ? WHERE workspace_id = ? AND id = ?`),
		f.Name(), f.Status().String(), def, f.RetentionDays(), f.UpdatedAt(), f.Workspace().String(), f.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update form %s: %w", f.ID(), err)
	}
	return nil
}

// Delete removes the form; the foreign keys cascade to its submissions and
// their messages.
func (s formStore) Delete(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM forms WHERE workspace_id = ? AND id = ?`), ws.String(), id.String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("delete form %s: %w", id, err)
	}
	return nil
}

func (s formStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.Form, string, error) {
	limit, err := pageOf(p, domain.PrefixForm)
	if err != nil {
		return nil, "", err
	}
	fs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+formColumns+` FROM forms WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?`),
		scanForm, ws.String(), p.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list forms of %s: %w", ws, err)
	}
	fs, next := cut(fs, limit, func(f domain.Form) string { return f.ID().String() })
	return fs, next, nil
}

// WithRetention returns the forms with a retention period, ordered by ID.
func (s formStore) WithRetention(ctx context.Context) ([]domain.Form, error) {
	fs, err := queryAll(ctx, s.q, `SELECT `+formColumns+` FROM forms WHERE retention_days > 0 ORDER BY id`, scanForm)
	if err != nil {
		return nil, fmt.Errorf("list forms with retention: %w", err)
	}
	return fs, nil
}
