package domain

import (
	"encoding/json"
	"time"
)

// EventID names a domain event.
type EventID string

// PrefixEvent starts every event ID.
const PrefixEvent = "evt"

// Event is something that happened in a workspace that partners may want
// to hear about. It is written to the outbox in the transaction that made
// it happen, so an event exists exactly when its change was committed;
// the webhooks dispatcher delivers it.
type Event struct {
	ID        EventID
	Workspace WorkspaceID
	Type      string // "post.published", "page.unpublished", ...
	Data      []byte // JSON object
	CreatedAt time.Time
}

// EntryEvent is the event that reports a publication change of e:
// "<kind>.published" or "<kind>.unpublished".
func EntryEvent(e Entry, published bool, now time.Time) Event {
	verb := "unpublished"
	if published {
		verb = "published"
	}
	data, _ := json.Marshal(struct { // a struct of strings: cannot fail
		ID          EntryID    `json:"id"`
		Kind        string     `json:"kind"`
		Slug        string     `json:"slug"`
		Title       string     `json:"title"`
		Status      string     `json:"status"`
		Version     int        `json:"version"`
		PublishedAt *time.Time `json:"published_at,omitempty"`
	}{e.id, e.kind.s, e.content.Slug, e.content.Title, e.status.s, e.version, e.publishedAt})
	now = Timestamp(now)
	return Event{ID: EventID(NewID(PrefixEvent, now)), Workspace: e.workspace, Type: e.kind.s + "." + verb, Data: data, CreatedAt: now}
}
