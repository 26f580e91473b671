package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/ports"
)

// TestEventFeed: the feed lists a workspace's events oldest first after
// the last one seen, by type, with each submission event's data the
// submission as the API shows it; a cursor retention deleted is 410
// cursor_expired, and inputs are bounded.
func TestEventFeed(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, contactForm())
	var subs []string
	for _, body := range []string{`{"name":"Ada","email":"ada@example.com","topics":["sales","support"]}`, `{"name":"Bob","email":"bob@example.com"}`} {
		subs = append(subs, decodeBody[submittedResponse](t, f.submitJSON(t, id, body), http.StatusCreated).ID)
		f.clock.Add(time.Minute)
	}
	decodeBody[submittedResponse](t, f.submitJSON(t, id, `{"name":"Spam","email":"spam@example.com","website":"http://x"}`), http.StatusCreated)
	if w := f.api(t, http.MethodPatch, "/v1/workspaces/acme/submissions/"+subs[0], map[string]any{"status": "read"}); w.Code != http.StatusOK {
		t.Fatalf("update status: %d %s", w.Code, w.Body)
	}
	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/submissions/"+subs[1], nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}

	read := func(query string) listResponse[eventResponse] {
		t.Helper()
		return decodeBody[listResponse[eventResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/events"+query, nil), http.StatusOK)
	}
	// A reader follows after= two at a time, as a partner would.
	var seen []eventResponse
	for after := ""; ; {
		page := read("?limit=2&after=" + after)
		seen = append(seen, page.Data...)
		if len(page.Data) == 0 {
			break
		}
		after = page.Data[len(page.Data)-1].ID
	}
	var got []string
	for _, e := range seen {
		var d struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(e.Data, &d)
		got = append(got, e.Type+" "+d.ID)
		if e.Workspace == "" || e.CreatedAt.IsZero() {
			t.Errorf("event %+v: want its workspace and time", e)
		}
	}
	want := []string{"form.created " + id, "submission.created " + subs[0], "submission.created " + subs[1], "submission.updated " + subs[0], "submission.deleted " + subs[1]}
	if !slices.Equal(got, want) {
		t.Fatalf("feed = %q, want %q", got, want)
	}
	// An event's data is the resource as GET shows it.
	for _, c := range []struct {
		event eventResponse
		path  string
	}{{seen[0], "/v1/workspaces/acme/forms/" + id}, {seen[3], "/v1/workspaces/acme/submissions/" + subs[0]}} {
		var fromEvent, fromAPI map[string]any
		_ = json.Unmarshal(c.event.Data, &fromEvent)
		_ = json.Unmarshal(f.api(t, http.MethodGet, c.path, nil).Body.Bytes(), &fromAPI)
		if !reflect.DeepEqual(fromEvent, fromAPI) {
			t.Errorf("%s data = %v\nGET %s shows %v", c.event.Type, fromEvent, c.path, fromAPI)
		}
	}
	if byType := read("?type=submission.updated"); len(byType.Data) != 1 || byType.Data[0].ID != seen[3].ID {
		t.Errorf("type=submission.updated = %+v, want the one update", byType.Data)
	}

	decodeProblem(t, f.invalid().api(t, http.MethodGet, "/v1/workspaces/acme/events?type=submission.exploded", nil), http.StatusUnprocessableEntity, "validation_failed")
	decodeProblem(t, f.invalid().api(t, http.MethodGet, "/v1/workspaces/acme/events?limit=101", nil), http.StatusUnprocessableEntity, "validation_failed")

	// Retention deletes all but the workspace's last event: the reader
	// that saw everything reads on, the one left at the first is told.
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		_, err := st.Events().DeleteCreatedBefore(ctx, f.clock.Now().Add(time.Hour), 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if page := read("?after=" + seen[4].ID); len(page.Data) != 0 {
		t.Errorf("after the last event = %+v, want nothing", page.Data)
	}
	decodeProblem(t, f.api(t, http.MethodGet, "/v1/workspaces/acme/events?after="+seen[0].ID, nil), http.StatusGone, "cursor_expired")
}
