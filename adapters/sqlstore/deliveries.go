package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// deliveryStore implements ports.DeliveryStore.
type deliveryStore struct{ *stores }

const deliveryColumns = `id, webhook_id, workspace_id, event_id, event_type, status, attempts, attempt_count, series_start,
	next_attempt_at, trace_parent, created_at, delivered_at`

// deliveryAttemptJSON is one element of the attempts column.
type deliveryAttemptJSON struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyNS  int64     `json:"latency_ns,omitempty"`
	Error      string    `json:"error,omitempty"`
	Body       string    `json:"body,omitempty"`
}

type deliveryRow struct {
	id, webhookID, workspaceID, eventID, eventType, status, attempts string
	attemptCount, seriesStart                                        int
	nextAttemptAt                                                    time.Time
	traceParent                                                      string
	createdAt                                                        time.Time
	deliveredAt                                                      sql.NullTime
}

func (r *deliveryRow) dest() []any {
	return []any{&r.id, &r.webhookID, &r.workspaceID, &r.eventID, &r.eventType, &r.status, &r.attempts, &r.attemptCount, &r.seriesStart,
		&r.nextAttemptAt, &r.traceParent, &r.createdAt, &r.deliveredAt}
}

func (r deliveryRow) toDomain() (domain.WebhookDelivery, error) {
	status, err := domain.ParseOutboxStatus(r.status)
	if err != nil {
		return domain.WebhookDelivery{}, fmt.Errorf("delivery %s: stored status %q: %w", r.id, r.status, err)
	}
	var as []deliveryAttemptJSON
	if err := json.Unmarshal([]byte(r.attempts), &as); err != nil {
		return domain.WebhookDelivery{}, fmt.Errorf("delivery %s: attempts: %w", r.id, err)
	}
	var attempts []domain.DeliveryAttempt
	for _, a := range as {
		attempts = append(attempts, domain.DeliveryAttempt{At: a.At.UTC(), StatusCode: a.StatusCode, Latency: time.Duration(a.LatencyNS), Error: a.Error, Body: a.Body})
	}
	return domain.WebhookDelivery{
		ID: domain.DeliveryID(r.id), Webhook: domain.WebhookID(r.webhookID), Workspace: domain.WorkspaceID(r.workspaceID),
		Event: domain.EventID(r.eventID), EventType: r.eventType, Status: status, Attempts: attempts,
		AttemptCount: r.attemptCount, SeriesStart: r.seriesStart, NextAttemptAt: r.nextAttemptAt.UTC(),
		TraceParent: r.traceParent, CreatedAt: r.createdAt.UTC(), DeliveredAt: utcPtr(r.deliveredAt),
	}, nil
}

func scanDelivery(sc scanner) (domain.WebhookDelivery, error) {
	var r deliveryRow
	if err := sc.Scan(r.dest()...); err != nil {
		return domain.WebhookDelivery{}, err
	}
	return r.toDomain()
}

func encodeDeliveryAttempts(as []domain.DeliveryAttempt) (string, error) {
	out := make([]deliveryAttemptJSON, 0, len(as))
	for _, a := range as {
		out = append(out, deliveryAttemptJSON{At: a.At.UTC(), StatusCode: a.StatusCode, LatencyNS: int64(a.Latency), Error: a.Error, Body: a.Body})
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// deliveryArgs are d's values in deliveryColumns' order.
func deliveryArgs(d domain.WebhookDelivery) ([]any, error) {
	attempts, err := encodeDeliveryAttempts(d.Attempts)
	if err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	return []any{string(d.ID), string(d.Webhook), d.Workspace.String(), string(d.Event), d.EventType, d.Status.String(), attempts,
		d.AttemptCount, d.SeriesStart, domain.Timestamp(d.NextAttemptAt), d.TraceParent, domain.Timestamp(d.CreatedAt), nullTime(d.DeliveredAt)}, nil
}

// insertDeliveries adds ds in one statement and marks the transaction as
// one that queued work for the dispatcher. New deliveries, as
// domain.NewDelivery makes them and as every fan-out inserts them, bind
// only their own values and leave status, attempts and counts to the
// columns' defaults: the fan-out runs inside the transaction of every
// change, which SQLite runs one at a time.
func (s *stores) insertDeliveries(ctx context.Context, ds []domain.WebhookDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	var query string
	var args []any
	if !slices.ContainsFunc(ds, func(d domain.WebhookDelivery) bool { return !isNewDelivery(d) }) {
		const row = `(?, ?, ?, ?, ?, ?, ?, ?)`
		query = `INSERT INTO webhook_deliveries (id, webhook_id, workspace_id, event_id, event_type, next_attempt_at, trace_parent, created_at) VALUES ` +
			strings.Repeat(row+`, `, len(ds)-1) + row
		args = make([]any, 0, 8*len(ds))
		for _, d := range ds {
			at := domain.Timestamp(d.CreatedAt)
			args = append(args, string(d.ID), string(d.Webhook), d.Workspace.String(), string(d.Event), d.EventType, at, d.TraceParent, at)
		}
	} else {
		const row = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
		query = `INSERT INTO webhook_deliveries (` + deliveryColumns + `) VALUES ` + strings.Repeat(row+`, `, len(ds)-1) + row
		args = make([]any, 0, 13*len(ds))
		for _, d := range ds {
			a, err := deliveryArgs(d)
			if err != nil {
				return fmt.Errorf("delivery %s: %w", d.ID, err)
			}
			args = append(args, a...)
		}
	}
	if err := s.insertLater(ctx, query, false, args...); err != nil {
		return err
	}
	if slices.ContainsFunc(ds, func(d domain.WebhookDelivery) bool { return d.Status == domain.OutboxPending }) {
		s.queued = true
	}
	return nil
}

// isNewDelivery reports whether d is as domain.NewDelivery makes it: the
// columns' defaults hold the rest.
func isNewDelivery(d domain.WebhookDelivery) bool {
	return d.Status == domain.OutboxPending && len(d.Attempts) == 0 && d.AttemptCount == 0 && d.SeriesStart == 0 &&
		d.DeliveredAt == nil && domain.Timestamp(d.NextAttemptAt).Equal(domain.Timestamp(d.CreatedAt))
}

// webhookEndpoint is what deliveriesOf reads of an enabled webhook.
type webhookEndpoint struct{ id, events string }

// webhooksKey is what a shared transaction remembers the enabled
// endpoints of ws under.
func webhooksKey(ws domain.WorkspaceID) string { return "webhooks\x00" + ws.String() }

// rememberWebhooks has the shared transaction of s remember the enabled
// endpoints of ws that a statement read along with something else, as a
// JSON array of [id, events] pairs (formStore.UpdatedAt).
func rememberWebhooks(s *stores, ws domain.WorkspaceID, pairs string) error {
	var rows [][2]string
	if err := json.Unmarshal([]byte(pairs), &rows); err != nil {
		return fmt.Errorf("webhooks of %s: %w", ws, err)
	}
	eps := make([]webhookEndpoint, len(rows))
	for i, r := range rows {
		eps[i] = webhookEndpoint{id: r[0], events: r[1]}
	}
	s.shared.keep(webhooksKey(ws), eps)
	return nil
}

// deliveriesOf returns the fan-out of e: a new delivery for every enabled
// endpoint of its workspace that subscribes to its type, which the caller
// inserts in its transaction (eventStore.Add). A workspace without
// endpoints costs one indexed lookup that finds nothing; the subscription
// rule is domain.Webhook.Subscribes, applied here to the few enabled
// endpoints of one workspace (domain.MaxWebhooksPerWorkspace).
func (s *stores) deliveriesOf(ctx context.Context, e domain.Event) ([]domain.WebhookDelivery, error) {
	if e.Type == domain.EventWebhookTest {
		return nil, nil // goes to the tested endpoint only, through DeliveryStore.Add
	}
	// A shared transaction looks a workspace's webhooks up once for all
	// its events (sharedtx.go).
	eps, err := remember(s, webhooksKey(e.Workspace), func() ([]webhookEndpoint, error) {
		return queryAll(ctx, s.q, s.d.rebind(`SELECT id, events FROM webhooks WHERE workspace_id = ? AND enabled`),
			func(sc scanner) (ep webhookEndpoint, err error) { return ep, sc.Scan(&ep.id, &ep.events) }, e.Workspace.String())
	})
	if err != nil || len(eps) == 0 {
		return nil, err
	}
	var ds []domain.WebhookDelivery
	traceParent := ""
	for i, ep := range eps {
		var events []string
		if err := json.Unmarshal([]byte(ep.events), &events); err != nil {
			return nil, fmt.Errorf("webhook %s: events: %w", ep.id, err)
		}
		w := domain.RehydrateWebhook(domain.WebhookID(ep.id), e.Workspace, "", events, "", true, "", domain.WebhookSecret{}, domain.WebhookSecret{}, nil, nil, time.Time{}, time.Time{})
		if !w.Subscribes(e.Type) {
			continue
		}
		if ds == nil {
			traceParent = traceParentOf(ctx)
			ds = make([]domain.WebhookDelivery, 0, len(eps)-i)
		}
		ds = append(ds, domain.NewDelivery(e, w.ID(), traceParent, e.CreatedAt))
	}
	return ds, nil
}

// traceParentOf is the W3C traceparent of ctx's span, "" without one:
// the delivery's attempts join the trace of the request that caused it.
func traceParentOf(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

func (s deliveryStore) Add(ctx context.Context, d domain.WebhookDelivery) error {
	if err := s.insertDeliveries(ctx, []domain.WebhookDelivery{d}); err != nil {
		return fmt.Errorf("add delivery %s: %w", d.ID, err)
	}
	return nil
}

// Claim runs three statements.
//
// The first picks, among the enabled endpoints, those with a due delivery
// that is not leased and fewer than perWebhook deliveries leased, the
// earliest due first, at most limit of them: the limit earliest due
// deliveries that may be claimed belong to those. Each endpoint costs two
// index probes however long its queue, so that one endpoint's backlog of
// 100,000 does not slow every claim: its earliest due delivery is the
// first in webhook_deliveries_due past the few leased ones, and the
// leased ones are counted in webhook_deliveries_leased. That count has no
// condition on status, which the partial index does not hold: only
// pending deliveries are ever leased (Save and FailPending release).
// On PostgreSQL the statement locks the endpoints it picks
// (endpointLock), skipping those another claim holds: two claims never
// work on one endpoint at once, which keeps the per-endpoint bound exact.
//
// The second takes, for each picked endpoint, its earliest due deliveries
// up to the slots it has left, counted again now that the endpoint is
// locked (the first statement's snapshot may predate the commit of
// another claim's leases), keeps the limit earliest and leases them. It
// re-checks status and lease, and on PostgreSQL locks with SKIP LOCKED:
// a row that another transaction leased meanwhile is dropped, never
// claimed twice.
//
// The third reads the leased deliveries with their endpoint and event.
//
// The limits are written "? + 0": SQLite reads a LIMIT that is a bare
// parameter when it plans the statement, and so compiles the cached
// statement again whenever the value changes, which a dispatcher
// refilling its free slots does on most claims.
func (s deliveryStore) Claim(ctx context.Context, now time.Time, lease time.Duration, limit, perWebhook int) ([]ports.DueDelivery, error) {
	if limit < 1 || perWebhook < 1 {
		return nil, nil
	}
	now = domain.Timestamp(now)
	whs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT id FROM (
		SELECT w.id, (SELECT x.next_attempt_at FROM webhook_deliveries x
			WHERE x.webhook_id = w.id AND x.status = 'pending' AND x.next_attempt_at <= ? AND (x.lease_until IS NULL OR x.lease_until <= ?)
			ORDER BY x.next_attempt_at LIMIT 1) AS first_due
		FROM webhooks w
		WHERE w.enabled AND (SELECT count(*) FROM webhook_deliveries l WHERE l.webhook_id = w.id AND l.lease_until > ?) < ?) c
		WHERE first_due IS NOT NULL ORDER BY first_due, id LIMIT ? + 0`+endpointLock(s.d)),
		scanString, now, now, now, perWebhook, limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: pick endpoints: %w", err)
	}
	if len(whs) == 0 {
		return nil, nil
	}
	// Each branch's LIMIT is the endpoint's free slots, at most limit.
	branches := make([]string, len(whs))
	args := []any{now.Add(lease)}
	for i, w := range whs {
		branches[i] = fmt.Sprintf(`SELECT * FROM (SELECT webhook_id, id, next_attempt_at FROM webhook_deliveries
			WHERE webhook_id = ? AND status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY next_attempt_at, id
			LIMIT (SELECT CASE WHEN count(*) >= ? THEN 0 WHEN ? - count(*) < ? THEN ? - count(*) ELSE ? END
				FROM webhook_deliveries l WHERE l.webhook_id = ? AND l.lease_until > ?)%s) b%d`, s.d.skipLocked(), i)
		args = append(args, w, now, now, perWebhook, perWebhook, limit, perWebhook, limit, w, now)
	}
	args = append(args, limit, now)
	keys, err := queryAll(ctx, s.q, s.d.rebind(`UPDATE webhook_deliveries SET lease_until = ? WHERE (webhook_id, id) IN (
		SELECT webhook_id, id FROM (`+strings.Join(branches, ` UNION ALL `)+`) u ORDER BY next_attempt_at, id LIMIT ? + 0)
		AND status = 'pending' AND (lease_until IS NULL OR lease_until <= ?) RETURNING webhook_id, id`),
		func(sc scanner) (k [2]string, err error) { return k, sc.Scan(&k[0], &k[1]) }, args...)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: lease: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	out, err := s.due(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: read: %w", err)
	}
	slices.SortFunc(out, func(a, b ports.DueDelivery) int {
		return cmp.Or(a.Delivery.NextAttemptAt.Compare(b.Delivery.NextAttemptAt), strings.Compare(string(a.Delivery.ID), string(b.Delivery.ID)))
	})
	return out, nil
}

// endpointLock is the lock Claim takes on the endpoints it picks: the
// dialect's skipLocked, made FOR NO KEY UPDATE on PostgreSQL. FOR UPDATE
// would also conflict with the FOR KEY SHARE lock that the foreign key
// check of every fan-out insert takes on the endpoint, so a claim would
// skip, or a submission wait for, an endpoint whose workspace is busy.
func endpointLock(d dialect) string {
	return strings.Replace(d.skipLocked(), "FOR UPDATE", "FOR NO KEY UPDATE", 1)
}

// due reads deliveries, by their keys (webhook_id, id), with their
// endpoint and, when retention has not deleted it, their event as it is
// now: redacted if its submission went.
func (s deliveryStore) due(ctx context.Context, keys [][2]string) ([]ports.DueDelivery, error) {
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k[0], k[1])
	}
	return queryAll(ctx, s.q, s.d.rebind(`SELECT `+prefixColumns("d.", deliveryColumns)+`, `+prefixColumns("w.", webhookColumns)+`,
		e.id, e.type, e.subject, e.data, e.created_at
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id LEFT JOIN events e ON e.id = d.event_id
		WHERE (d.webhook_id, d.id) IN (VALUES (?, ?)`+strings.Repeat(`, (?, ?)`, len(keys)-1)+`)`),
		func(sc scanner) (ports.DueDelivery, error) {
			var dr deliveryRow
			var wr webhookRow
			var eid, etype, esubject, edata sql.NullString
			var eat sql.NullTime
			if err := sc.Scan(append(append(dr.dest(), wr.dest()...), &eid, &etype, &esubject, &edata, &eat)...); err != nil {
				return ports.DueDelivery{}, err
			}
			d, err := dr.toDomain()
			if err != nil {
				return ports.DueDelivery{}, err
			}
			w, err := wr.toDomain()
			if err != nil {
				return ports.DueDelivery{}, err
			}
			var e domain.Event
			if eid.Valid {
				e = domain.Event{ID: domain.EventID(eid.String), Workspace: d.Workspace, Type: etype.String, Subject: esubject.String,
					Data: []byte(edata.String), CreatedAt: eat.Time.UTC()}
			}
			return ports.DueDelivery{Delivery: d, Webhook: w, Event: e}, nil
		}, args...)
}

// prefixColumns qualifies each column of a column list with prefix.
func prefixColumns(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// Save releases the lease. A delivery that is pending with no attempt in
// its current series was just redelivered: the dispatcher is woken after
// commit, as for a new one. A retry scheduled later needs no wake.
func (s deliveryStore) Save(ctx context.Context, d domain.WebhookDelivery) error {
	a, err := deliveryArgs(d)
	if err != nil {
		return fmt.Errorf("save delivery %s: %w", d.ID, err)
	}
	// a: id, webhook, workspace, event, type, status, attempts, count, series, next, trace, created, delivered.
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE webhook_deliveries SET status = ?, attempts = ?, attempt_count = ?, series_start = ?,
		next_attempt_at = ?, delivered_at = ?, lease_until = NULL WHERE webhook_id = ? AND id = ?`), a[5], a[6], a[7], a[8], a[9], a[12], a[1], a[0])
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("save delivery %s: %w", d.ID, err)
	}
	if d.Status == domain.OutboxPending && d.AttemptCount == d.SeriesStart {
		s.queued = true
	}
	return nil
}

func (s deliveryStore) Get(ctx context.Context, ws domain.WorkspaceID, w domain.WebhookID, id domain.DeliveryID) (domain.WebhookDelivery, error) {
	d, err := scanDelivery(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE webhook_id = ? AND id = ? AND workspace_id = ?`), string(w), string(id), ws.String()))
	if isNoRows(err) {
		return domain.WebhookDelivery{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.WebhookDelivery{}, fmt.Errorf("get delivery %s: %w", id, err)
	}
	return d, nil
}

func (s deliveryStore) List(ctx context.Context, ws domain.WorkspaceID, w domain.WebhookID, status *domain.OutboxStatus, p ports.Page) ([]domain.WebhookDelivery, string, error) {
	limit, err := pageOf(p, domain.PrefixDelivery)
	if err != nil {
		return nil, "", err
	}
	query, args := `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE webhook_id = ? AND workspace_id = ?`, []any{string(w), ws.String()}
	if p.After != "" {
		query, args = query+` AND id < ?`, append(args, p.After)
	}
	if status != nil {
		query, args = query+` AND status = ?`, append(args, status.String())
	}
	ds, err := queryAll(ctx, s.q, s.d.rebind(query+` ORDER BY id DESC LIMIT ?`), scanDelivery, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries of %s: %w", w, err)
	}
	ds, next := cut(ds, limit, func(d domain.WebhookDelivery) string { return string(d.ID) })
	return ds, next, nil
}

// FailPending ends the pending deliveries in one UPDATE that appends the
// attempt to the stored JSON array as text, so that an endpoint disabled
// with a backlog of thousands costs one statement. The attempt itself is
// made by domain.WebhookDelivery.Record, which normalises its error. A
// delivery that may already hold domain.MaxDeliveryAttemptsKept attempts
// (attempt_count counts at least as many as it keeps) goes through Record
// instead, which drops the oldest; only redelivered ones get there.
func (s deliveryStore) FailPending(ctx context.Context, w domain.WebhookID, reason string, now time.Time) (int, error) {
	var probe domain.WebhookDelivery
	probe.Record(domain.DeliveryAttempt{At: now, Error: reason}, domain.DeliveryFinal, domain.RetryPolicy{})
	attempt, err := encodeDeliveryAttempts(probe.Attempts)
	if err != nil {
		return 0, fmt.Errorf("fail deliveries of %s: %w", w, err)
	}
	attempt = strings.TrimSuffix(strings.TrimPrefix(attempt, "["), "]")

	long, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE webhook_id = ? AND status = 'pending' AND attempt_count >= ?`), scanDelivery, string(w), domain.MaxDeliveryAttemptsKept)
	if err != nil {
		return 0, fmt.Errorf("fail deliveries of %s: %w", w, err)
	}
	for _, d := range long {
		d.Record(probe.Attempts[0], domain.DeliveryFinal, domain.RetryPolicy{})
		if err := s.Save(ctx, d); err != nil {
			return 0, fmt.Errorf("fail deliveries of %s: %w", w, err)
		}
	}
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE webhook_deliveries SET status = 'failed', lease_until = NULL, attempt_count = attempt_count + 1,
		attempts = CASE WHEN attempts = '[]' THEN '[' || ? || ']' ELSE substr(attempts, 1, length(attempts) - 1) || ',' || ? || ']' END
		WHERE webhook_id = ? AND status = 'pending' AND attempt_count < ?`), attempt, attempt, string(w), domain.MaxDeliveryAttemptsKept)
	if err != nil {
		return 0, fmt.Errorf("fail deliveries of %s: %w", w, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("fail deliveries of %s: rows affected: %w", w, err)
	}
	return len(long) + int(n), nil
}

func (s deliveryStore) Depth(ctx context.Context, limit int) (map[domain.WebhookID]int, error) {
	if limit < 1 {
		return map[domain.WebhookID]int{}, nil
	}
	type depth struct {
		id string
		n  int
	}
	ds, err := queryAll(ctx, s.q, s.d.rebind(`SELECT webhook_id, count(*) FROM webhook_deliveries WHERE status = 'pending'
		GROUP BY webhook_id ORDER BY count(*) DESC, webhook_id LIMIT ?`),
		func(sc scanner) (d depth, err error) { return d, sc.Scan(&d.id, &d.n) }, limit)
	if err != nil {
		return nil, fmt.Errorf("delivery queue depth: %w", err)
	}
	out := make(map[domain.WebhookID]int, len(ds))
	for _, d := range ds {
		out[domain.WebhookID(d.id)] = d.n
	}
	return out, nil
}

// deleteEndedDeliveries deletes at most limit deliveries created before t
// that have ended (sent, failed or dead): the delivery log is kept as
// long as the events. Pending ones stay until they end. Each endpoint's
// deliveries are read in key order up to the first ID made at t
// (idBefore), so a batch reads the old rows only, however many newer ones
// an endpoint keeps; created_at decides.
func (s *stores) deleteEndedDeliveries(ctx context.Context, t time.Time, limit int) (int, error) {
	res, err := s.q.ExecContext(ctx, deleteEndedQuery(s.d), idBefore(domain.PrefixDelivery, t), domain.Timestamp(t), limit)
	if err != nil {
		return 0, fmt.Errorf("delete deliveries before %s: %w", t, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete deliveries before %s: rows affected: %w", t, err)
	}
	return int(n), nil
}

// deleteEndedQuery is deleteEndedDeliveries' statement, which takes the
// ID bound, the time and the limit. The endpoints must be the outer loop,
// each probing its deliveries' key up to the ID bound. Without ANALYZE's
// statistics SQLite would rather scan every delivery and look its endpoint
// up, reading all of the newer deliveries of the endpoints whose old ones
// are gone before it finds the next old one: 40 ms for a batch of 1,000
// behind one endpoint's 200,000 newer deliveries, holding the writer all
// along, against 2 ms this way (measured on SQLite on the 2-core CI box).
// Joining on w.id with an empty string appended keeps SQLite from looking
// endpoints up by ID, which leaves it that one order, and changes no
// value. TestPruneQueriesUseIndexes reads the plan.
func deleteEndedQuery(d dialect) string {
	return d.rebind(`DELETE FROM webhook_deliveries WHERE (webhook_id, id) IN (
		SELECT d.webhook_id, d.id FROM webhooks w JOIN webhook_deliveries d ON d.webhook_id = w.id || '' AND d.id < ?
		WHERE d.created_at < ? AND d.status <> 'pending' LIMIT ?)`)
}

// idBefore returns a string that sorts after every ID with prefix made
// (by domain.NewID) before t's millisecond and before every ID made from
// it on: the prefix, then t's Unix milliseconds as the 10 base32 digits
// an ID begins with, then the smallest digits. It only narrows a scan:
// callers still test the creation time, so an ID whose clock ran ahead
// is found later, never wrongly.
func idBefore(prefix string, t time.Time) string {
	const digits = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford's base32, as domain.NewID
	ms := uint64(max(t.UnixMilli(), 0))
	var b [26]byte
	for i := range b {
		b[i] = '0'
	}
	for i := 9; i >= 0; i-- {
		b[i] = digits[ms&31]
		ms >>= 5
	}
	return prefix + "_" + string(b[:])
}
