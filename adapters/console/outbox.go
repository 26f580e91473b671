package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// messagesPerPage is how many messages the outbox page shows before its
// "Older" link.
const messagesPerPage = 50

// untrustedRunes bounds the last error a row of the outbox or the delivery
// log shows: a relay's or a receiver's text is untrusted and may be long.
const untrustedRunes = 300

// outboxStatuses are the outbox page's filter, in the order a message
// moves through them.
var outboxStatuses = []string{"pending", "sent", "failed", "dead"}

// outboxRoutes registers the mail outbox page and its retry button.
func (c *Console) outboxRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/workspaces/{ws}/outbox", c.outbox)
	mux.HandleFunc("POST /console/workspaces/{ws}/outbox/{msg}/retry", c.retryMessage)
}

// messageRow is a row of the outbox table. Next is set only while the
// message is pending; Retry says whether it may be retried (failed or
// dead).
type messageRow struct {
	ID        string
	Kind      string
	Status    string
	To        string
	Subject   string
	Attempts  int
	LastError string
	Next      *time.Time
	CreatedAt time.Time
	Retry     bool
}

// outboxData is what the outbox page shows: the queue's health (the
// unsent messages by status, and the oldest waiting one; sent mail is not
// counted, as a count of it would read every message ever sent), and a
// page of messages.
type outboxData struct {
	Health   ports.OutboxHealth
	Rows     []messageRow
	Status   string
	Statuses []string
	Older    string
	CanRetry bool
}

// outbox shows a workspace's mail, newest first, filtered by status, with
// a cursor link to older messages, as GET /v1/…/messages pages them. The
// outbox holds every submitter's address, so only admins and owners see
// it; other members get a page that says so.
func (c *Console) outbox(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := outboxData{Status: q.Get("status"), Statuses: outboxStatuses}
	var filter *domain.OutboxStatus
	if d.Status != "" {
		st, err := domain.ParseOutboxStatus(d.Status)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		filter = &st
	}
	ref := r.PathValue("ws")
	ms, next, err := c.cfg.Messaging.ListMessages(r.Context(), p, ref, filter, ports.Page{After: q.Get("after"), Limit: messagesPerPage})
	if errors.Is(err, domain.ErrForbidden) {
		c.sectionDenied(w, r, ws, "outbox", "Mail", "Only the workspace's admins and owners can see its mail, which holds every submitter's address.")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Health, err = c.cfg.Messaging.MailHealth(r.Context(), p, ref); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.CanRetry, err = c.may(r, p, ws, domain.PermMessagesWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	for _, m := range ms {
		d.Rows = append(d.Rows, toMessageRow(m))
	}
	d.Older = nextPage(Prefix+"workspaces/"+url.PathEscape(ref)+"/outbox", next, "status", d.Status)
	c.render(w, r, http.StatusOK, "outbox", page{Title: "Mail · " + ws.Name(), Signed: true, Workspace: &ws, Section: "outbox", Data: d})
}

func toMessageRow(m domain.OutboxMessage) messageRow {
	row := messageRow{
		ID: m.Message.ID(), Kind: m.Kind, Status: m.Status.String(), Subject: m.Message.Subject(),
		Attempts: len(m.Attempts), CreatedAt: m.CreatedAt,
		Retry: m.Status == domain.OutboxDead || m.Status == domain.OutboxFailed,
	}
	var to []string
	for _, a := range m.Message.To() {
		to = append(to, a.Address)
	}
	row.To = strings.Join(to, ", ")
	if n := len(m.Attempts); n > 0 {
		row.LastError = domain.TruncateRunes(m.Attempts[n-1].Error, untrustedRunes)
	}
	if m.Status == domain.OutboxPending {
		next := m.NextAttemptAt
		row.Next = &next
	}
	return row
}

// retryMessage makes a failed or dead message due again through the use
// case POST /v1/…/messages/{id}/retry calls, and goes back to the outbox
// page, keeping its filter.
func (c *Console) retryMessage(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	ref := r.PathValue("ws")
	if _, err := c.cfg.Messaging.RetryMessage(r.Context(), p, ref, r.PathValue("msg")); err != nil {
		c.fail(w, r, err)
		return
	}
	back := Prefix + "workspaces/" + url.PathEscape(ref) + "/outbox"
	if st := r.PostFormValue("status"); st != "" {
		if _, err := domain.ParseOutboxStatus(st); err == nil {
			back += "?status=" + url.QueryEscape(st)
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// sectionDenied renders, inside the workspace's navigation, a page that says
// why the member's role may not see an area the navigation links to.
func (c *Console) sectionDenied(w http.ResponseWriter, r *http.Request, ws domain.Workspace, section, title, why string) {
	c.render(w, r, http.StatusForbidden, "error", page{Title: title, Signed: true, Workspace: &ws, Section: section, Message: why})
}
