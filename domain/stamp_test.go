package domain_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestStampHasOneWidth checks that a stamp is UTC with six fractional
// digits whatever its zone and fraction, truncated rather than rounded,
// in JSON and as text alike.
func TestStampHasOneWidth(t *testing.T) {
	t.Parallel()
	cet := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), "2026-03-02T09:00:00.000000Z"},
		{time.Date(2026, 3, 2, 9, 0, 0, 120_000_000, time.UTC), "2026-03-02T09:00:00.120000Z"},
		{time.Date(2026, 3, 2, 23, 59, 59, 999_999_999, cet), "2026-03-02T22:59:59.999999Z"}, // not rounded to the next day
		{time.Date(2026, 3, 2, 9, 0, 0, 1, time.UTC), "2026-03-02T09:00:00.000000Z"},
	} {
		s := domain.Stamp{Time: c.at}
		if got := s.String(); got != c.want {
			t.Errorf("String(%v) = %s, want %s", c.at, got, c.want)
		}
		b, err := json.Marshal(map[string]any{"at": s, "ptr": domain.StampOf(&c.at), "none": domain.StampOf(nil)})
		if want := `{"at":"` + c.want + `","none":null,"ptr":"` + c.want + `"}`; err != nil || string(b) != want {
			t.Errorf("JSON = %s, %v; want %s", b, err, want)
		}
		if txt, err := s.MarshalText(); err != nil || string(txt) != c.want {
			t.Errorf("MarshalText = %s, %v; want %s", txt, err, c.want)
		}
	}
	if _, err := json.Marshal(domain.Stamp{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("year 10000 encoded; RFC 3339 has four-digit years")
	}
}

// TestStampOrderIsTimeOrder checks the reason for the fixed width: the
// strings of increasing instants sort in the same order.
func TestStampOrderIsTimeOrder(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var got []string
	for _, d := range []time.Duration{0, 40 * time.Millisecond, 45670 * time.Microsecond, time.Second, time.Second + time.Microsecond} {
		got = append(got, domain.Stamp{Time: base.Add(d)}.String())
	}
	if !slices.IsSorted(got) {
		t.Errorf("stamps of increasing instants are not sorted: %q", got)
	}
}

// TestStampDecodesAnyRFC3339 checks that reading a stamp back accepts
// what any client might send, whatever its digits or offset.
func TestStampDecodesAnyRFC3339(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 3, 2, 8, 0, 0, 500_000_000, time.UTC)
	for _, in := range []string{`"2026-03-02T08:00:00.5Z"`, `"2026-03-02T09:00:00.500000+01:00"`, `"2026-03-02T08:00:00.500000000Z"`} {
		var s domain.Stamp
		if err := json.Unmarshal([]byte(in), &s); err != nil || !s.Equal(want) {
			t.Errorf("decode %s = %v, %v; want %v", in, s, err, want)
		}
	}
}

// TestEventDataStampsHaveOneWidth builds every event that carries a time
// at an instant RFC3339Nano would shorten (.120000 as .12) and checks
// that each time in its data, and in its webhook payload, is a stamp.
func TestEventDataStampsHaveOneWidth(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 120_000_789, time.UTC)
	ws := domain.WorkspaceID("wsp_1")
	e, err := domain.NewEntry(ws, "usr_1", domain.KindPost, domain.EntryContent{Title: "T"}, domain.Rendered{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Publish(nil, now); err != nil {
		t.Fatal(err)
	}
	f, err := domain.NewForm(ws, domain.FormInput{Name: "F", Fields: []domain.Field{{Name: "email", Type: domain.FieldEmail}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	expires := now.Add(time.Hour)
	k, _, err := domain.NewAPIKey(domain.NewAPIKeyInput{Workspace: ws, Name: "k", Scopes: []string{"events:read"}, CreatedBy: "usr_1", ExpiresAt: &expires}, now)
	if err != nil {
		t.Fatal(err)
	}
	sub := domain.RehydrateSubmission("sub_1", f.ID(), ws, nil, domain.SubmissionNew, domain.SubmissionMeta{}, now, now)
	times := regexp.MustCompile(`\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})`)
	for _, c := range []struct {
		ev    domain.Event
		times int // at least
	}{
		{domain.EntryEvent(e, true, now), 1},
		{domain.SubmissionEvent(domain.EventSubmissionCreated, sub, now), 2},
		{domain.SubmissionDeletedEvent(sub.Ref(), now), 1},
		{domain.FormEvent(domain.EventFormCreated, f, now), 2},
		{domain.APIKeyEvent(domain.EventAPIKeyCreated, k, now), 2},
	} {
		payload := string(domain.WebhookPayload(c.ev))
		found := times.FindAllString(payload, -1)
		if len(found) < c.times+1 { // the payload's created_at too
			t.Errorf("%s: %d times in %s, want at least %d", c.ev.Type, len(found), payload, c.times+1)
		}
		for _, ts := range found {
			if ts != "2026-12-01T09:00:00.120000Z" && ts != "2026-12-01T10:00:00.120000Z" {
				t.Errorf("%s: time %s in %s, want %s", c.ev.Type, ts, payload, domain.StampLayout)
			}
		}
	}
}
