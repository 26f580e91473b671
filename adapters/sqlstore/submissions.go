package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// submissionStore implements ports.SubmissionStore.
type submissionStore struct{ *stores }

const submissionColumns = `id, form_id, workspace_id, status, field_values, ip_hash, user_agent, referrer, origin, created_at, updated_at, mail_held, spam_reason, spam_detail, ignored_field`

// valueJSON is one element of the field_values column. Rows written
// before list existed lack it and read as false, which domain.Value.IsList
// makes up for whenever such a value holds more than one option.
type valueJSON struct {
	Field  string   `json:"field"`
	Values []string `json:"values"`
	List   bool     `json:"list,omitempty"`
	// Files are a file field's files; the blobs themselves are in the
	// blob store under Key, whose path names this submission (see
	// forms.fileKey), so no table of its own is needed to find them.
	Files []fileJSON `json:"files,omitempty"`
}

type fileJSON struct {
	Name        string `json:"name"`
	ContentType string `json:"type"`
	Size        int64  `json:"size"`
	Key         string `json:"key"`
}

func toValueJSON(v domain.Value) valueJSON {
	out := valueJSON{Field: v.Field, Values: v.Values, List: v.List}
	for _, f := range v.Files {
		out.Files = append(out.Files, fileJSON(f))
	}
	return out
}

type submissionRow struct {
	id, formID, workspaceID, status, values string
	ipHash, userAgent, referrer, origin     string
	createdAt, updatedAt                    time.Time
	mailHeld                                bool
	spamReason, spamDetail                  string
	ignoredField                            string
}

func decodeValues(s string) ([]domain.Value, error) {
	var vs []valueJSON
	if err := json.Unmarshal([]byte(s), &vs); err != nil {
		return nil, err
	}
	out := make([]domain.Value, 0, len(vs))
	for _, v := range vs {
		dv := domain.Value{Field: v.Field, Values: v.Values, List: v.List}
		for _, f := range v.Files {
			dv.Files = append(dv.Files, domain.SubmissionFile(f))
		}
		out = append(out, dv)
	}
	return out, nil
}

func (r submissionRow) toDomain() (domain.Submission, error) {
	status, err := domain.ParseSubmissionStatus(r.status)
	if err != nil {
		return domain.Submission{}, fmt.Errorf("submission %s: stored status %q: %w", r.id, r.status, err)
	}
	values, err := decodeValues(r.values)
	if err != nil {
		return domain.Submission{}, fmt.Errorf("submission %s: values: %w", r.id, err)
	}
	cause, ok := domain.ParseSpamCause(r.spamReason)
	if !ok {
		return domain.Submission{}, fmt.Errorf("submission %s: stored spam reason %q is unknown", r.id, r.spamReason)
	}
	meta := domain.SubmissionMeta{IPHash: r.ipHash, UserAgent: r.userAgent, Referrer: r.referrer, Origin: r.origin}
	return domain.RehydrateSubmission(domain.SubmissionID(r.id), domain.FormID(r.formID), domain.WorkspaceID(r.workspaceID),
		values, status, meta, r.createdAt, r.updatedAt).RehydrateMailHeld(r.mailHeld).
		RehydrateSpamReason(domain.SpamReason{Cause: cause, Detail: r.spamDetail}).RehydrateIgnoredField(r.ignoredField), nil
}

func scanSubmission(sc scanner) (domain.Submission, error) {
	var r submissionRow
	err := sc.Scan(&r.id, &r.formID, &r.workspaceID, &r.status, &r.values, &r.ipHash, &r.userAgent, &r.referrer, &r.origin, &r.createdAt, &r.updatedAt, &r.mailHeld, &r.spamReason, &r.spamDetail, &r.ignoredField)
	if err != nil {
		return domain.Submission{}, err
	}
	return r.toDomain()
}

// maxSearchText bounds a submission's search_text in bytes. Its values may
// hold megabytes (100 fields of 100,000 characters), which every search
// would scan and every row would store twice; what a person searches for
// is nearly always near the start. A longer text is cut at a character
// boundary and ends in searchTextCut.
const maxSearchText = 64 << 10

// searchTextCut (U+001E, the record separator) ends a search_text that
// maxSearchText cut short. Values never hold control characters, and a
// whole text ends in U+001F, so the byte marks a cut text alone; the
// erasure's prefilter keeps every such row, whose cut part it cannot see.
const searchTextCut = 0x1e

// searchText is the search_text column: every value lower-cased, each
// followed by U+001F (the unit separator), so that a query cannot match
// across two values, and at most maxSearchText bytes of it. Lower-casing
// happens here rather than in SQL, where SQLite folds ASCII only and
// PostgreSQL folds by the database's locale.
func searchText(vs []domain.Value) string {
	var b strings.Builder
	for _, v := range vs {
		for _, x := range v.Values {
			b.WriteString(strings.ToLower(x))
			b.WriteByte(0x1f)
			if b.Len() > maxSearchText {
				s := b.String()
				n := maxSearchText - 1 // room for the mark
				for n > 0 && !utf8.RuneStart(s[n]) {
					n--
				}
				return s[:n] + string(rune(searchTextCut))
			}
		}
	}
	return b.String()
}

// containsPattern is a LIKE pattern, for use with ESCAPE '\', that
// matches any text containing s lower-cased, whatever LIKE's
// metacharacters s holds.
func containsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

func (s submissionStore) Add(ctx context.Context, sub domain.Submission) error {
	vs := make([]valueJSON, 0, len(sub.Values()))
	for _, v := range sub.Values() {
		vs = append(vs, toValueJSON(v))
	}
	values, err := json.Marshal(vs)
	if err != nil {
		return fmt.Errorf("add submission %s: values: %w", sub.ID(), err)
	}
	m := sub.Meta()
	err = s.insertLater(ctx, `INSERT INTO submissions (`+submissionColumns+`, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, false,
		string(sub.ID()), sub.Form().String(), sub.Workspace().String(), sub.Status().String(), string(values),
		m.IPHash, m.UserAgent, m.Referrer, m.Origin, sub.CreatedAt(), sub.UpdatedAt(), sub.MailHeld(),
		sub.SpamReason().Cause.String(), sub.SpamReason().Detail, sub.IgnoredField(), searchText(sub.Values()))
	if err != nil {
		return fmt.Errorf("add submission %s: %w", sub.ID(), err)
	}
	return nil
}

// Get locks the row in a PostgreSQL write transaction: a write decided on
// its status (marking it not spam queues its held mail) must not race
// another one.
func (s submissionStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.SubmissionID) (domain.Submission, error) {
	sub, err := scanSubmission(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+submissionColumns+` FROM submissions WHERE workspace_id = ? AND id = ?`+s.forUpdate()),
		ws.String(), string(id)))
	if isNoRows(err) {
		return domain.Submission{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Submission{}, fmt.Errorf("get submission %s: %w", id, err)
	}
	return sub, nil
}

func (s submissionStore) Update(ctx context.Context, sub domain.Submission) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE submissions SET status = ?, updated_at = ?, mail_held = ?, spam_reason = ?, spam_detail = ? WHERE workspace_id = ? AND id = ?`),
		sub.Status().String(), sub.UpdatedAt(), sub.MailHeld(), sub.SpamReason().Cause.String(), sub.SpamReason().Detail,
		sub.Workspace().String(), string(sub.ID()))
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update submission %s: %w", sub.ID(), err)
	}
	return nil
}

// Delete removes the submission; the foreign key cascades to its messages.
func (s submissionStore) Delete(ctx context.Context, ws domain.WorkspaceID, id domain.SubmissionID) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM submissions WHERE workspace_id = ? AND id = ?`), ws.String(), string(id))
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("delete submission %s: %w", id, err)
	}
	return nil
}

// submissionScan bounds the rows a filtered listing examines per call.
// A filter (status, dates, a search) has no index of its own: an index
// on status or a trigram index would cost every submission on the ingest
// path, Keel's hottest. So a filtered page walks the (form_id, id) index
// newest first below its cursor and looks at no more than this many
// rows; at about 0.7 µs per LIKE row that keeps a page to a few
// milliseconds however rare the matches, and the cursor carries on where
// the walk stopped. The tests lower it (export_test.go).
var submissionScan = 10000

// List reads a page in two steps so that the page's byte budget
// (ports.MaxPageBytes) bounds what is read, not only what is returned:
// first the candidates' IDs and value sizes, then the whole rows of those
// that fit (fitPage). A filtered listing examines at most submissionScan
// rows (listFiltered).
func (s submissionStore) List(ctx context.Context, ws domain.WorkspaceID, form domain.FormID, f ports.SubmissionFilter, p ports.Page) ([]domain.Submission, string, error) {
	limit, err := pageOf(p, domain.PrefixSubmission)
	if err != nil {
		return nil, "", err
	}
	cond := `workspace_id = ? AND form_id = ?`
	args := []any{ws.String(), form.String()}
	if p.After != "" {
		cond, args = cond+` AND id < ?`, append(args, p.After)
	}
	if filter, fargs := submissionFilter(f); filter != "" {
		return s.listFiltered(ctx, form, cond, args, filter, fargs, limit)
	}
	cands, err := queryAll(ctx, s.q, s.d.rebind(`SELECT id, octet_length(field_values) FROM submissions WHERE `+cond+` ORDER BY id DESC LIMIT ?`),
		scanSized, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list submissions of %s: %w", form, err)
	}
	n := fitPage(cands, limit)
	if n == 0 {
		return nil, "", nil
	}
	last := cands[n-1].key
	subs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+submissionColumns+` FROM submissions WHERE `+cond+` AND id >= ? ORDER BY id DESC LIMIT ?`),
		scanSubmission, append(args, last, n)...)
	if err != nil {
		return nil, "", fmt.Errorf("list submissions of %s: %w", form, err)
	}
	if n == len(cands) {
		return subs, "", nil
	}
	// Outside a snapshot a row may come or go between the two reads; the
	// cursor continues after what this page returned.
	if len(subs) > 0 {
		last = string(subs[len(subs)-1].ID())
	}
	return subs, last, nil
}

// submissionFilter returns f as SQL on the columns of submissions, or ""
// when f filters nothing. Bounds count in whole microseconds, in UTC:
// PostgreSQL keeps no more, and SQLite compares the times as text.
func submissionFilter(f ports.SubmissionFilter) (string, []any) {
	var conds []string
	var args []any
	if f.Status != nil {
		conds, args = append(conds, `status = ?`), append(args, f.Status.String())
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, `created_at >= ?`), append(args, domain.Timestamp(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, `created_at < ?`), append(args, domain.Timestamp(f.Until))
	}
	if f.Query != "" {
		conds, args = append(conds, `search_text LIKE ? ESCAPE '\'`), append(args, containsPattern(f.Query))
	}
	return strings.Join(conds, ` AND `), args
}

// listFiltered reads a filtered page in one query over the newest
// submissionScan rows below the cursor (an index range scan on
// (form_id, id)), keeping the matches' IDs and sizes, plus the last row
// that scan examined, marked by a size of -1, when the scan ran to its
// budget. The page's whole rows are then read by ID, without running the
// filter again. The cursor follows the page's last row when the page
// filled, else the last row examined when more rows wait below it: such a
// page may be short, even empty, while matches follow.
func (s submissionStore) listFiltered(ctx context.Context, form domain.FormID, cond string, args []any, filter string, fargs []any, limit int) ([]domain.Submission, string, error) {
	scan := submissionScan
	q := `SELECT id, size FROM (SELECT id, size FROM (SELECT id, status, created_at, search_text, octet_length(field_values) AS size FROM submissions WHERE ` + cond + ` ORDER BY id DESC LIMIT ?) AS examined WHERE ` + filter + ` ORDER BY id DESC LIMIT ?) AS matches
		UNION ALL SELECT id, -1 FROM (SELECT id FROM submissions WHERE ` + cond + ` ORDER BY id DESC LIMIT 1 OFFSET ?) AS edge`
	qargs := append(append(append(append(slices.Clone(args), scan), fargs...), limit+1), args...)
	rows, err := queryAll(ctx, s.q, s.d.rebind(q), scanSized, append(qargs, scan-1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list submissions of %s: %w", form, err)
	}
	var cands []sized
	edge := ""
	for _, r := range rows {
		if r.size < 0 {
			edge = r.key
			continue
		}
		cands = append(cands, r)
	}
	// UNION ALL promises no order: the matches are sorted again here.
	slices.SortFunc(cands, func(a, b sized) int { return strings.Compare(b.key, a.key) })
	n := fitPage(cands, limit)
	next := edge
	if n < len(cands) {
		next = cands[n-1].key
	}
	if n == 0 {
		return nil, next, nil
	}
	ids := make([]any, 0, n+1)
	ids = append(ids, args[0])
	for _, c := range cands[:n] {
		ids = append(ids, c.key)
	}
	subs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+submissionColumns+` FROM submissions WHERE workspace_id = ? AND id IN (?`+strings.Repeat(`, ?`, n-1)+`) ORDER BY id DESC`),
		scanSubmission, ids...)
	if err != nil {
		return nil, "", fmt.Errorf("list submissions of %s: %w", form, err)
	}
	return subs, next, nil
}

// Recent reads the newest submissions of ws along the index on
// (workspace_id, created_at), joined to their forms for the names; ties
// in created_at fall back to the ID, which grows with time too.
func (s submissionStore) Recent(ctx context.Context, ws domain.WorkspaceID, limit int) ([]ports.RecentSubmission, error) {
	if limit <= 0 {
		return nil, nil
	}
	rs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT s.id, s.form_id, f.name, s.status, s.created_at
		FROM submissions s JOIN forms f ON f.id = s.form_id
		WHERE s.workspace_id = ? ORDER BY s.created_at DESC, s.id DESC LIMIT ?`),
		func(sc scanner) (r ports.RecentSubmission, err error) {
			var id, form, status string
			if err := sc.Scan(&id, &form, &r.FormName, &status, &r.CreatedAt); err != nil {
				return r, err
			}
			if r.Status, err = domain.ParseSubmissionStatus(status); err != nil {
				return r, fmt.Errorf("submission %s: stored status %q: %w", id, status, err)
			}
			r.ID, r.Form, r.CreatedAt = domain.SubmissionID(id), domain.FormID(form), r.CreatedAt.UTC()
			return r, nil
		}, ws.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("recent submissions of %s: %w", ws, err)
	}
	return rs, nil
}

// DeleteMatching narrows the candidates with LIKE on search_text, then
// keeps those with a value equal to email, ignoring case: a LIKE alone
// would also erase "xbob@example.com" for "bob@example.com". The foreign
// key cascades to the messages of the deleted submissions.
func (s submissionStore) DeleteMatching(ctx context.Context, ws domain.WorkspaceID, email domain.Email) ([]domain.SubmissionRef, error) {
	type candidate struct {
		ref    domain.SubmissionRef
		values string
	}
	// The rows are locked as they are read, so that a submission another
	// transaction deletes meanwhile is not reported deleted twice.
	// A search_text cut short is a candidate too: the address may be in the
	// part it lost.
	cs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT id, form_id, created_at, mail_held, field_values FROM submissions WHERE workspace_id = ? AND (search_text LIKE ? ESCAPE '\' OR search_text LIKE ?)`+s.d.lockRows()),
		func(sc scanner) (c candidate, err error) {
			var id, form string
			err = sc.Scan(&id, &form, &c.ref.CreatedAt, &c.ref.Spam, &c.values)
			c.ref.ID, c.ref.Form, c.ref.Workspace, c.ref.CreatedAt = domain.SubmissionID(id), domain.FormID(form), ws, c.ref.CreatedAt.UTC()
			return c, err
		},
		ws.String(), containsPattern(email.String()), "%"+string(rune(searchTextCut)))
	if err != nil {
		return nil, fmt.Errorf("find submissions of %s to erase: %w", ws, err)
	}
	var ids []string
	var refs []domain.SubmissionRef
	for _, c := range cs {
		vs, err := decodeValues(c.values)
		if err != nil {
			return nil, fmt.Errorf("submission %s: values: %w", c.ref.ID, err)
		}
		if holdsValue(vs, email.String()) {
			ids, refs = append(ids, string(c.ref.ID)), append(refs, c.ref)
		}
	}
	if _, err := s.deleteByID(ctx, `submissions`, ids); err != nil {
		return nil, fmt.Errorf("erase submissions of %s: %w", ws, err)
	}
	return refs, nil
}

// holdsValue reports whether any value equals v, ignoring case.
func holdsValue(vs []domain.Value, v string) bool {
	for _, fv := range vs {
		for _, x := range fv.Values {
			if strings.EqualFold(x, v) {
				return true
			}
		}
	}
	return false
}

// deleteByID deletes the rows of table (a constant, never input) with the
// given IDs, in batches that stay below every engine's parameter limit,
// and returns how many it deleted.
func (s *stores) deleteByID(ctx context.Context, table string, ids []string) (int, error) {
	const batch = 500
	n := 0
	for len(ids) > 0 {
		chunk := ids[:min(batch, len(ids))]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM `+table+` WHERE id IN (?`+strings.Repeat(`, ?`, len(chunk)-1)+`)`), args...)
		if err != nil {
			return n, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("rows affected: %w", err)
		}
		n += int(k)
	}
	return n, nil
}

// DeleteOlderThan deletes the oldest of a form's submissions created
// before t, at most limit of them; a limit below 1 deletes none.
func (s submissionStore) DeleteOlderThan(ctx context.Context, form domain.FormID, t time.Time, limit int) ([]domain.SubmissionRef, error) {
	if limit < 1 {
		return nil, nil
	}
	// The rows are locked as they are read, so that a submission another
	// transaction deletes meanwhile is not reported deleted twice.
	refs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT id, workspace_id, created_at, mail_held FROM submissions
		WHERE form_id = ? AND created_at < ? ORDER BY created_at, id LIMIT ?`+s.d.lockRows()),
		func(sc scanner) (r domain.SubmissionRef, err error) {
			var id, ws string
			err = sc.Scan(&id, &ws, &r.CreatedAt, &r.Spam)
			r.ID, r.Workspace, r.Form, r.CreatedAt = domain.SubmissionID(id), domain.WorkspaceID(ws), form, r.CreatedAt.UTC()
			return r, err
		}, form.String(), domain.Timestamp(t), limit)
	if err != nil {
		return nil, fmt.Errorf("find submissions of %s before %s: %w", form, t, err)
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = string(r.ID)
	}
	if _, err := s.deleteByID(ctx, `submissions`, ids); err != nil {
		return nil, fmt.Errorf("delete submissions of %s before %s: %w", form, t, err)
	}
	return refs, nil
}
