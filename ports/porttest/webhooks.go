package porttest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func webhooks(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("AddGetListCountIsolated", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var mine []domain.Webhook
		for i := range 3 {
			mine = append(mine, addWebhook(t, uow, ws.ID(), fmt.Sprintf("https://hooks.example.com/%d?x=\"é\"", i), domain.EventSubmissionCreated, domain.EventFormDeleted))
		}
		theirs := addWebhook(t, uow, other.ID(), "https://theirs.example.com/", domain.WebhookSubscribeAll)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, w := range mine {
				got, err := st.Webhooks().Get(ctx, ws.ID(), w.ID())
				if err != nil {
					return err
				}
				if webhookView(got) != webhookView(w) {
					t.Errorf("Get = %s\nwant %s", webhookView(got), webhookView(w))
				}
			}
			_, err := st.Webhooks().Get(ctx, ws.ID(), theirs.ID())
			wantErr(t, "Get(other workspace's webhook)", err, domain.ErrNotFound)
			_, err = st.Webhooks().Get(ctx, other.ID(), mine[0].ID())
			wantErr(t, "Get(from the other workspace)", err, domain.ErrNotFound)
			for _, c := range []struct {
				ws   domain.WorkspaceID
				want int
			}{{ws.ID(), 3}, {other.ID(), 1}, {"wsp_none", 0}} {
				if n, err := st.Webhooks().Count(ctx, c.ws); err != nil || n != c.want {
					t.Errorf("Count(%s) = %d, %v; want %d", c.ws, n, err, c.want)
				}
			}
			return nil
		})
		want := idsOf(mine, webhookID)
		slices.Reverse(want)
		checkPages(t, "Webhooks.List", want, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				whs, n, err := st.Webhooks().List(ctx, ws.ID(), p)
				ids, next = idsOf(whs, webhookID), n
				return err
			})
			return ids, next
		})
		err := uow.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Webhooks().List(ctx, ws.ID(), ports.Page{After: "whk_'; DROP TABLE webhooks; --"})
			return err
		})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("List(bad cursor) err = %v, want invalid", err)
		}
	})
	t.Run("ConcurrentCountedAddsKeepALimit", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		const limit, tries = 3, 12
		var wg sync.WaitGroup
		for i := range tries {
			wg.Go(func() {
				w := mustWebhook(t, ws.ID(), fmt.Sprintf("https://hooks.example.com/%d", i), domain.WebhookSubscribeAll)
				err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
					n, err := st.Webhooks().Count(ctx, ws.ID())
					if err != nil || n >= limit {
						return err
					}
					return st.Webhooks().Add(ctx, w)
				})
				if err != nil {
					t.Errorf("add %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			n, err := st.Webhooks().Count(ctx, ws.ID())
			if n != limit {
				t.Errorf("%d transactions that add below a count of %d left %d endpoints", tries, limit, n)
			}
			return err
		})
	})

	t.Run("ConcurrentGetChangeSaveSerialise", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		w := addWebhook(t, uow, ws.ID(), "https://hooks.example.com/", domain.WebhookSubscribeAll)
		// Each transaction disables the endpoint only if it finds it
		// enabled: exactly one may, however they interleave.
		var mu sync.Mutex
		disabled := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				did := false
				err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
					did = false
					got, err := st.Webhooks().Get(ctx, ws.ID(), w.ID())
					if err != nil || !got.DeliveryFailed(true, time.Hour, time.Now()) {
						return err
					}
					did = true
					return st.Webhooks().Save(ctx, got)
				})
				if err != nil {
					t.Errorf("disable: %v", err)
				}
				if did {
					mu.Lock()
					disabled++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if disabled != 1 {
			t.Errorf("%d transactions each found the endpoint enabled and disabled it, want 1", disabled)
		}
	})

	t.Run("SaveAndDelete", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		w := addWebhook(t, uow, ws.ID(), "https://hooks.example.com/a", domain.EventSubmissionCreated)
		off, url, desc, evs := false, "https://hooks.example.com/b", "Billing <sync>", []string{domain.WebhookSubscribeAll}
		if err := w.Update(domain.WebhookPatch{URL: &url, Description: &desc, Events: &evs, Enabled: &off}, false, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		w.RotateSecret(t0.Add(2 * time.Minute))
		w.DeliveryFailed(false, time.Hour, t0.Add(3*time.Minute))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Save(ctx, w) })
		if got := getWebhook(t, uow, ws.ID(), w.ID()); webhookView(got) != webhookView(w) {
			t.Errorf("after Save: %s\nwant %s", webhookView(got), webhookView(w))
		}
		if w.PreviousSecret().IsZero() || w.FailingSince() == nil {
			t.Fatal("domain: rotation or failure not recorded")
		}
		on := true
		if err := w.Update(domain.WebhookPatch{Enabled: &on}, false, t0.Add(4*time.Minute)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Save(ctx, w) })
		if got := getWebhook(t, uow, ws.ID(), w.ID()); webhookView(got) != webhookView(w) {
			t.Errorf("after enabling: %s\nwant %s", webhookView(got), webhookView(w))
		}

		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Webhooks().Save(ctx, mustWebhook(t, ws.ID(), "https://x.example.com/", domain.WebhookSubscribeAll))
		})
		wantErr(t, "Save(unknown)", err, domain.ErrNotFound)

		d := addDelivery(t, uow, w, submissionEvent(ws.ID(), "1", t0), func(*domain.WebhookDelivery) {})
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Webhooks().Delete(ctx, other.ID(), w.ID())
		})
		wantErr(t, "Delete(from the other workspace)", err, domain.ErrNotFound)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Delete(ctx, ws.ID(), w.ID()) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Webhooks().Get(ctx, ws.ID(), w.ID())
			wantErr(t, "Get(deleted)", err, domain.ErrNotFound)
			_, err = st.Deliveries().Get(ctx, ws.ID(), w.ID(), d.ID)
			wantErr(t, "Get(delivery of a deleted webhook)", err, domain.ErrNotFound)
			wantErr(t, "Delete(deleted)", st.Webhooks().Delete(ctx, ws.ID(), w.ID()), domain.ErrNotFound)
			return nil
		})
	})
}

func deliveries(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("EventFansOutToEnabledSubscribers", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		exact := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.EventFormCreated, domain.EventSubmissionCreated)
		all := addWebhook(t, uow, ws.ID(), "https://b.example.com/", domain.WebhookSubscribeAll)
		elsewhere := addWebhook(t, uow, ws.ID(), "https://c.example.com/", domain.EventFormCreated)
		disabled := addWebhook(t, uow, ws.ID(), "https://d.example.com/", domain.WebhookSubscribeAll)
		disable(t, uow, disabled)
		theirs := addWebhook(t, uow, other.ID(), "https://e.example.com/", domain.WebhookSubscribeAll)

		e := submissionEvent(ws.ID(), "1", t0.Add(time.Second))
		test := domain.WebhookTestEvent(all, t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			if err := st.Events().Add(ctx, e); err != nil {
				return err
			}
			return st.Events().Add(ctx, test)
		})
		for _, c := range []struct {
			w    domain.Webhook
			want []domain.EventID
		}{{exact, []domain.EventID{e.ID}}, {all, []domain.EventID{e.ID}}, {elsewhere, nil}, {disabled, nil}, {theirs, nil}} {
			ds := listDeliveries(t, uow, c.w, nil, ports.Page{})
			got := make([]domain.EventID, len(ds))
			for i, d := range ds {
				got[i] = d.Event
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("deliveries to %s = %v, want %v", c.w.URL(), got, c.want)
				continue
			}
			for _, d := range ds {
				want := domain.NewDelivery(e, c.w.ID(), "", e.CreatedAt)
				want.ID = d.ID
				if deliveryView(d) != deliveryView(want) {
					t.Errorf("fanned out %s\nwant %s", deliveryView(d), deliveryView(want))
				}
				if !domain.ValidID(domain.PrefixDelivery, string(d.ID)) {
					t.Errorf("delivery ID %q", d.ID)
				}
			}
		}
		// The test endpoint's delivery goes through Add, to it alone.
		d := domain.NewDelivery(test, all.ID(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Add(ctx, d) })
		if got := getDelivery(t, uow, all, d.ID); deliveryView(got) != deliveryView(d) {
			t.Errorf("Add then Get = %s\nwant %s", deliveryView(got), deliveryView(d))
		}
	})
	t.Run("RollbackDropsDeliveries", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		w := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.WebhookSubscribeAll)
		sentinel := domain.E(domain.KindConflict, "test_conflict", "Conflict.")
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			if err := st.Events().Add(ctx, submissionEvent(ws.ID(), "1", t0)); err != nil {
				return err
			}
			return sentinel
		})
		wantErr(t, "WithinTx", err, sentinel)
		if ds := listDeliveries(t, uow, w, nil, ports.Page{}); len(ds) != 0 {
			t.Errorf("deliveries after a rollback = %d, want 0", len(ds))
		}
	})
	t.Run("ClaimLeasesDueOfEnabledWithWebhookAndEvent", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		// w subscribes to none of the events, which fan out to off alone.
		w := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.EventFormCreated)
		w.RotateSecret(t0) // the claim carries both secrets
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Save(ctx, w) })
		off := addWebhook(t, uow, ws.ID(), "https://b.example.com/", domain.WebhookSubscribeAll)
		e1, e2, e3 := submissionEvent(ws.ID(), "1", t0), submissionEvent(ws.ID(), "2", t0), submissionEvent(ws.ID(), "3", t0)
		addEvents(t, uow, e1, e2, e3)
		early := addDelivery(t, uow, w, e1, func(d *domain.WebhookDelivery) { d.NextAttemptAt = t0.Add(-time.Minute) })
		late := addDelivery(t, uow, w, e2, func(*domain.WebhookDelivery) {})
		addDelivery(t, uow, w, e3, func(d *domain.WebhookDelivery) { d.NextAttemptAt = t0.Add(time.Hour) })
		for _, st := range []domain.OutboxStatus{domain.OutboxSent, domain.OutboxFailed, domain.OutboxDead} {
			addDelivery(t, uow, w, e1, func(d *domain.WebhookDelivery) { d.Status = st })
		}
		disable(t, uow, off) // its fanned-out deliveries stay pending, unclaimed

		got := claimDeliveries(t, uow, t0, time.Minute, 10, 10)
		if ids := idsOf(got, dueID); !slices.Equal(ids, idsOf([]domain.WebhookDelivery{early, late}, deliveryID)) {
			t.Fatalf("Claim = %v, want the two due pending deliveries of the enabled webhook, earliest due first", ids)
		}
		for i, want := range []struct {
			d domain.WebhookDelivery
			e domain.Event
		}{{early, e1}, {late, e2}} {
			if deliveryView(got[i].Delivery) != deliveryView(want.d) {
				t.Errorf("claimed %s\nwant %s", deliveryView(got[i].Delivery), deliveryView(want.d))
			}
			if webhookView(got[i].Webhook) != webhookView(w) {
				t.Errorf("claimed with webhook %s\nwant %s", webhookView(got[i].Webhook), webhookView(w))
			}
			if eventView(got[i].Event) != eventView(want.e) {
				t.Errorf("claimed with event %s\nwant %s", eventView(got[i].Event), eventView(want.e))
			}
		}
		if again := claimDeliveries(t, uow, t0.Add(59*time.Second), time.Minute, 10, 10); len(again) != 0 {
			t.Fatalf("Claim during the lease = %v, want none", idsOf(again, dueID))
		}
		if got := claimDeliveries(t, uow, t0, time.Minute, 0, 10); len(got) != 0 {
			t.Fatalf("Claim(limit 0) = %d", len(got))
		}
	})
	t.Run("ClaimCapsEachWebhook", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		slow, other := addWebhook(t, uow, ws.ID(), "https://slow.example.com/", domain.WebhookSubscribeAll), addWebhook(t, uow, ws.ID(), "https://b.example.com/", domain.EventFormCreated)
		const backlog, slots = 50, 4
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for i := range backlog {
				d := domain.NewDelivery(submissionEvent(ws.ID(), fmt.Sprint(i), t0), slow.ID(), "", t0)
				d.NextAttemptAt = t0.Add(-time.Duration(backlog-i) * time.Second) // all due before other's
				if err := st.Deliveries().Add(ctx, d); err != nil {
					return err
				}
			}
			return nil
		})
		theirs := addDelivery(t, uow, other, domain.NewEvent(ws.ID(), domain.EventFormCreated, "frm_1", map[string]any{}, t0), func(*domain.WebhookDelivery) {})

		got := claimDeliveries(t, uow, t0, time.Minute, 10, slots)
		bySlow := countBy(got, slow.ID())
		if bySlow != slots || countBy(got, other.ID()) != 1 || len(got) != slots+1 {
			t.Fatalf("Claim(limit 10, 4 per webhook) = %d of the slow webhook, %d in all; want %d and the other's %s", bySlow, len(got), slots, theirs.ID)
		}
		// The leased ones count while their lease runs.
		if again := claimDeliveries(t, uow, t0.Add(time.Second), time.Minute, 10, slots); len(again) != 0 {
			t.Fatalf("Claim with the slow webhook's slots full = %d deliveries, want 0", len(again))
		}
		// Saving two frees two slots.
		for _, due := range got[:2] {
			d := due.Delivery
			d.Record(domain.DeliveryAttempt{At: t0.Add(time.Second), StatusCode: 200}, domain.DeliveryOK, domain.DefaultWebhookRetryPolicy)
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Save(ctx, d) })
		}
		more := claimDeliveries(t, uow, t0.Add(2*time.Second), time.Minute, 10, slots)
		if len(more) != 2 || countBy(more, slow.ID()) != 2 {
			t.Fatalf("Claim after two were saved = %d deliveries, want 2 of the slow webhook", len(more))
		}
		if slices.ContainsFunc(more, func(m ports.DueDelivery) bool {
			return slices.ContainsFunc(got, func(g ports.DueDelivery) bool { return g.Delivery.ID == m.Delivery.ID })
		}) {
			t.Fatal("Claim returned a delivery claimed before")
		}
		// Two concurrent claims share the 3 slots a larger bound leaves;
		// none is claimed twice.
		wider := slots + 3
		var mu sync.Mutex
		var both []string
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				var ids []string
				err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
					ds, err := st.Deliveries().Claim(ctx, t0.Add(3*time.Second), time.Minute, 10, wider)
					ids = idsOf(ds, dueID)
					return err
				})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				both = append(both, ids...)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(both)
		if len(both) != 3 || len(slices.Compact(slices.Clone(both))) != len(both) {
			t.Fatalf("two concurrent claims with 3 free slots took %v", both)
		}
	})
	t.Run("FullWebhookLeavesTheLimitToOthers", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		full, other := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.EventFormCreated), addWebhook(t, uow, ws.ID(), "https://b.example.com/", domain.EventFormCreated)
		for i := range 3 {
			addDelivery(t, uow, full, submissionEvent(ws.ID(), fmt.Sprint(i), t0), func(d *domain.WebhookDelivery) { d.NextAttemptAt = t0.Add(-time.Hour) })
		}
		theirs := addDelivery(t, uow, other, submissionEvent(ws.ID(), "9", t0), func(*domain.WebhookDelivery) {})
		if got := claimDeliveries(t, uow, t0, time.Minute, 1, 1); len(got) != 1 || got[0].Delivery.Webhook != full.ID() {
			t.Fatalf("first Claim = %v, want one of the earliest due webhook", idsOf(got, dueID))
		}
		// full is due earliest but has no slot left: the one delivery the
		// limit allows is the other webhook's.
		if got := claimDeliveries(t, uow, t0, time.Minute, 1, 1); !slices.Equal(idsOf(got, dueID), []string{string(theirs.ID)}) {
			t.Fatalf("Claim with the first webhook full = %v, want %s", idsOf(got, dueID), theirs.ID)
		}
	})
	t.Run("ExpiredLeaseIsClaimedAgain", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		w := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.WebhookSubscribeAll)
		d := addDelivery(t, uow, w, submissionEvent(ws.ID(), "1", t0), func(*domain.WebhookDelivery) {})
		if got := claimDeliveries(t, uow, t0, time.Minute, 1, 1); len(got) != 1 {
			t.Fatalf("first Claim = %d deliveries, want 1", len(got))
		}
		if got := claimDeliveries(t, uow, t0.Add(time.Minute-time.Microsecond), time.Minute, 1, 1); len(got) != 0 {
			t.Fatalf("Claim just before the lease ends = %d deliveries, want 0", len(got))
		}
		got := claimDeliveries(t, uow, t0.Add(time.Minute), time.Minute, 1, 1)
		if ids := idsOf(got, dueID); !slices.Equal(ids, []string{string(d.ID)}) {
			t.Fatalf("Claim once the lease ended = %v, want %s", ids, d.ID)
		}
	})
	t.Run("ConcurrentDispatchersClaimEachDeliveryOnce", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		const endpoints, events, dispatchers = 5, 40, 8
		for i := range endpoints {
			addWebhook(t, uow, ws.ID(), fmt.Sprintf("https://%d.example.com/", i), domain.WebhookSubscribeAll)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for i := range events {
				if err := st.Events().Add(ctx, submissionEvent(ws.ID(), fmt.Sprint(i), t0)); err != nil {
					return err
				}
			}
			return nil
		})
		seen := claimConcurrently(t, uow, "delivery", dispatchers, func(ctx context.Context, st ports.Stores) ([]string, error) {
			ds, err := st.Deliveries().Claim(ctx, t0.Add(time.Minute), time.Hour, 7, endpoints*events)
			return idsOf(ds, dueID), err
		})
		if len(seen) != endpoints*events {
			t.Errorf("%d deliveries claimed, want %d", len(seen), endpoints*events)
		}
	})
	t.Run("ClaimSeesRedactedAndDeletedEvents", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.WebhookSubscribeAll)
		old := submissionEvent(ws.ID(), "old", t0.Add(-48*time.Hour))
		e := domain.NewEvent(ws.ID(), domain.EventSubmissionCreated, "sub_1", map[string]any{"id": "sub_1", "email": "ada@example.com"}, t0)
		addEvents(t, uow, old, e)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Events().Redact(ctx, ws.ID(), "sub_1", []byte(`{"id":"sub_1"}`)); err != nil {
				return err
			}
			_, err := st.Events().DeleteCreatedBefore(ctx, t0.Add(-time.Hour), 10)
			return err
		})
		got := claimDeliveries(t, uow, t0, time.Minute, 10, 10)
		if len(got) != 2 {
			t.Fatalf("Claim = %d deliveries, want the pending 2 (retention keeps them)", len(got))
		}
		for _, d := range got {
			switch d.Delivery.Event {
			case old.ID:
				if d.Event.ID != "" {
					t.Errorf("delivery of a deleted event claimed with event %s, want a zero Event", eventView(d.Event))
				}
			case e.ID:
				if string(d.Event.Data) != `{"id":"sub_1"}` {
					t.Errorf("claimed event data %s, want the redacted {\"id\":\"sub_1\"}", d.Event.Data)
				}
			default:
				t.Errorf("claimed delivery of event %s", d.Delivery.Event)
			}
		}
	})
	t.Run("SaveGetListFilterPages", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		w, w2 := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.WebhookSubscribeAll), addWebhook(t, uow, ws.ID(), "https://b.example.com/", domain.EventFormCreated)
		theirs := addWebhook(t, uow, other.ID(), "https://c.example.com/", domain.WebhookSubscribeAll)
		var ds []domain.WebhookDelivery
		for i := range 4 {
			ds = append(ds, addDelivery(t, uow, w, submissionEvent(ws.ID(), fmt.Sprint(i), t0), func(*domain.WebhookDelivery) {}))
		}
		addDelivery(t, uow, w2, submissionEvent(ws.ID(), "9", t0), func(*domain.WebhookDelivery) {})
		addDelivery(t, uow, theirs, submissionEvent(other.ID(), "9", t0), func(*domain.WebhookDelivery) {})
		claimDeliveries(t, uow, t0, time.Hour, 10, 10)

		p := domain.RetryPolicy{MaxAttempts: 2, Base: time.Minute, Max: time.Minute}
		retry := ds[0]
		retry.Record(domain.DeliveryAttempt{At: t0.Add(time.Second), StatusCode: 503, Latency: 1234567 * time.Nanosecond, Error: "HTTP 503\n<é>", Body: `{"busy":true}`}, domain.DeliveryRetry, p)
		sent := ds[1]
		sent.Record(domain.DeliveryAttempt{At: t0.Add(time.Second), StatusCode: 204, Latency: time.Millisecond}, domain.DeliveryOK, p)
		dead := ds[2]
		dead.Record(domain.DeliveryAttempt{At: t0.Add(time.Second), Error: "connection refused"}, domain.DeliveryRetry, p)
		dead.Record(domain.DeliveryAttempt{At: t0.Add(time.Minute), Error: "timeout"}, domain.DeliveryRetry, p)
		if retry.Status != domain.OutboxPending || sent.Status != domain.OutboxSent || dead.Status != domain.OutboxDead {
			t.Fatalf("domain: statuses %s %s %s", retry.Status, sent.Status, dead.Status)
		}
		for _, d := range []domain.WebhookDelivery{retry, sent, dead} {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Save(ctx, d) })
			if got := getDelivery(t, uow, w, d.ID); deliveryView(got) != deliveryView(d) {
				t.Errorf("after Save: %s\nwant %s", deliveryView(got), deliveryView(d))
			}
		}
		// Save released the retry's lease: it is claimed once due.
		if got := claimDeliveries(t, uow, retry.NextAttemptAt, time.Minute, 10, 10); !slices.Equal(idsOf(got, dueID), []string{string(retry.ID)}) {
			t.Errorf("Claim when the retry is due = %v, want %s", idsOf(got, dueID), retry.ID)
		}
		if err := dead.Redeliver(t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Save(ctx, dead) })
		if got := getDelivery(t, uow, w, dead.ID); deliveryView(got) != deliveryView(dead) {
			t.Errorf("after redelivery: %s\nwant %s", deliveryView(got), deliveryView(dead))
		}

		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Deliveries().Get(ctx, other.ID(), w.ID(), sent.ID)
			wantErr(t, "Get(other workspace)", err, domain.ErrNotFound)
			_, err = st.Deliveries().Get(ctx, ws.ID(), w2.ID(), sent.ID)
			wantErr(t, "Get(other webhook)", err, domain.ErrNotFound)
			wantErr(t, "Save(unknown)", st.Deliveries().Save(ctx, domain.NewDelivery(submissionEvent(ws.ID(), "x", t0), w.ID(), "", t0)), domain.ErrNotFound)
			return nil
		})
		want := idsOf(ds, deliveryID)
		slices.Reverse(want)
		checkPages(t, "Deliveries.List", want, 3, func(p ports.Page) ([]string, string) {
			ds, next := listDeliveriesPage(t, uow, w, nil, p)
			return idsOf(ds, deliveryID), next
		})
		for _, c := range []struct {
			status domain.OutboxStatus
			want   []domain.WebhookDelivery
		}{{domain.OutboxPending, []domain.WebhookDelivery{ds[3], dead, retry}}, {domain.OutboxSent, []domain.WebhookDelivery{sent}}, {domain.OutboxFailed, nil}} {
			got := listDeliveries(t, uow, w, &c.status, ports.Page{})
			if !slices.Equal(idsOf(got, deliveryID), idsOf(c.want, deliveryID)) {
				t.Errorf("List(%s) = %v, want %v", c.status, idsOf(got, deliveryID), idsOf(c.want, deliveryID))
			}
		}
		err := uow.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Deliveries().List(ctx, ws.ID(), w.ID(), nil, ports.Page{After: "evt_0"})
			return err
		})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("List(bad cursor) err = %v, want invalid", err)
		}
	})
	t.Run("FailPendingEndsTheQueue", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		w, w2 := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.WebhookSubscribeAll), addWebhook(t, uow, ws.ID(), "https://b.example.com/", domain.WebhookSubscribeAll)
		fresh := addDelivery(t, uow, w, submissionEvent(ws.ID(), "1", t0), func(*domain.WebhookDelivery) {})
		retried := addDelivery(t, uow, w, submissionEvent(ws.ID(), "2", t0), func(d *domain.WebhookDelivery) {
			d.Record(domain.DeliveryAttempt{At: t0, StatusCode: 500, Error: "HTTP 500"}, domain.DeliveryRetry, domain.DefaultWebhookRetryPolicy)
			d.NextAttemptAt = t0
		})
		full := addDelivery(t, uow, w, submissionEvent(ws.ID(), "3", t0), func(d *domain.WebhookDelivery) {
			for i := range domain.MaxDeliveryAttemptsKept + 2 {
				d.Record(domain.DeliveryAttempt{At: t0.Add(time.Duration(i) * time.Second), Error: fmt.Sprintf("attempt %d", i)}, domain.DeliveryRetry,
					domain.RetryPolicy{MaxAttempts: 100, Base: time.Second, Max: time.Second})
			}
			d.NextAttemptAt = t0
		})
		sent := addDelivery(t, uow, w, submissionEvent(ws.ID(), "4", t0), func(d *domain.WebhookDelivery) {
			d.Record(domain.DeliveryAttempt{At: t0, StatusCode: 200}, domain.DeliveryOK, domain.DefaultWebhookRetryPolicy)
		})
		keep := addDelivery(t, uow, w2, submissionEvent(ws.ID(), "5", t0), func(d *domain.WebhookDelivery) { d.NextAttemptAt = t0.Add(30 * time.Second) })
		if got := claimDeliveries(t, uow, t0, time.Hour, 1, 10); len(got) != 1 {
			t.Fatalf("Claim = %d, want 1 leased while the endpoint is disabled", len(got))
		}

		now, reason := t0.Add(time.Minute), "The webhook was disabled: \"gone\" <410>."
		var n int
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			n, err = st.Deliveries().FailPending(ctx, w.ID(), reason, now)
			return err
		})
		if n != 3 {
			t.Errorf("FailPending = %d, want 3", n)
		}
		for _, d := range []domain.WebhookDelivery{fresh, retried, full} {
			d.Record(domain.DeliveryAttempt{At: now, Error: reason}, domain.DeliveryFinal, domain.DefaultWebhookRetryPolicy)
			if got := getDelivery(t, uow, w, d.ID); deliveryView(got) != deliveryView(d) {
				t.Errorf("after FailPending: %s\nwant %s", deliveryView(got), deliveryView(d))
			}
		}
		if got := getDelivery(t, uow, w, sent.ID); deliveryView(got) != deliveryView(sent) {
			t.Errorf("a sent delivery after FailPending: %s\nwant it unchanged", deliveryView(got))
		}
		// Leases are released and nothing of w is due; w2's is.
		got := claimDeliveries(t, uow, now, time.Hour, 10, 10)
		if !slices.Equal(idsOf(got, dueID), []string{string(keep.ID)}) {
			t.Errorf("Claim after FailPending = %v, want only the other webhook's %s", idsOf(got, dueID), keep.ID)
		}
	})
	t.Run("Depth", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		var whs []domain.Webhook
		for i, n := range []int{2, 5, 1, 0} {
			w := addWebhook(t, uow, ws.ID(), fmt.Sprintf("https://%d.example.com/", i), domain.EventFormCreated)
			whs = append(whs, w)
			for j := range n {
				addDelivery(t, uow, w, submissionEvent(ws.ID(), fmt.Sprint(j), t0), func(*domain.WebhookDelivery) {})
			}
			addDelivery(t, uow, w, submissionEvent(ws.ID(), "sent", t0), func(d *domain.WebhookDelivery) { d.Status = domain.OutboxSent })
		}
		var got map[domain.WebhookID]int
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			got, err = st.Deliveries().Depth(ctx, 2)
			return err
		})
		if want := map[domain.WebhookID]int{whs[1].ID(): 5, whs[0].ID(): 2}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Depth(2) = %v, want %v", got, want)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			got, err = st.Deliveries().Depth(ctx, 10)
			return err
		})
		if want := map[domain.WebhookID]int{whs[1].ID(): 5, whs[0].ID(): 2, whs[2].ID(): 1}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Depth(10) = %v, want %v", got, want)
		}
	})
	t.Run("RetentionDeletesEndedDeliveries", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		w := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.EventFormCreated)
		// Delivery IDs carry the clock of the process that made them
		// (domain.NewID never goes back), and a store may use that to find
		// old rows; so the cut-off follows the real clock, here an hour
		// ahead, while created_at decides which rows are old. Nothing here
		// makes an ID in the future, which would move that clock for the
		// rest of the process.
		cutoff := domain.Timestamp(time.Now().Add(time.Hour))
		old, recent := cutoff.Add(-72*time.Hour), cutoff.Add(time.Hour)
		for _, st := range []domain.OutboxStatus{domain.OutboxSent, domain.OutboxFailed, domain.OutboxDead} {
			addDelivery(t, uow, w, submissionEvent(ws.ID(), "1", old), func(d *domain.WebhookDelivery) { d.Status, d.CreatedAt = st, old })
		}
		oldPending := addDelivery(t, uow, w, submissionEvent(ws.ID(), "2", old), func(d *domain.WebhookDelivery) { d.CreatedAt = old })
		recentSent := addDelivery(t, uow, w, submissionEvent(ws.ID(), "3", old), func(d *domain.WebhookDelivery) {
			d.Status, d.CreatedAt, d.NextAttemptAt = domain.OutboxSent, recent, recent
		})
		deleteBefore := func(limit int) (n int) {
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				n, err = st.Events().DeleteCreatedBefore(ctx, cutoff, limit)
				return err
			})
			return n
		}
		for i, want := range []int{2, 1, 0} {
			if got := deleteBefore(2); got != want {
				t.Fatalf("DeleteCreatedBefore(limit 2) call %d = %d, want %d", i+1, got, want)
			}
		}
		left := listDeliveries(t, uow, w, nil, ports.Page{})
		if !sameSet(idsOf(left, deliveryID), idsOf([]domain.WebhookDelivery{oldPending, recentSent}, deliveryID)) {
			t.Errorf("deliveries after retention = %v, want the pending and the recent ones", idsOf(left, deliveryID))
		}
	})
	t.Run("FeedListsNoWebhookTest", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		w := addWebhook(t, uow, ws.ID(), "https://a.example.com/", domain.WebhookSubscribeAll)
		before, after := submissionEvent(ws.ID(), "1", t0), submissionEvent(ws.ID(), "2", t0)
		test := domain.WebhookTestEvent(w, t0)
		addEvents(t, uow, before, test, after)
		settleFeed(t, uow, ws.ID(), 2)
		if got := feed(t, uow, ws.ID(), "", ports.Page{}); !slices.Equal(eventIDs(got), []domain.EventID{before.ID, after.ID}) {
			t.Errorf("feed = %v, want %v without the webhook.test", eventIDs(got), []domain.EventID{before.ID, after.ID})
		}
		if got := feed(t, uow, ws.ID(), domain.EventWebhookTest, ports.Page{}); len(got) != 0 {
			t.Errorf("feed of webhook.test = %v, want none", eventIDs(got))
		}
		// Retention keeps the last event the feed shows, not a later
		// webhook.test, and deletes every old webhook.test: none is a
		// cursor. The fanned-out deliveries are pending and stay.
		addEvents(t, uow, domain.WebhookTestEvent(w, t0))
		var n int
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			n, err = st.Events().DeleteCreatedBefore(ctx, t0.Add(time.Hour), 100)
			return err
		})
		if n != 3 {
			t.Errorf("DeleteCreatedBefore = %d, want 3: the first change and both webhook.test events", n)
		}
		if got := feed(t, uow, ws.ID(), "", ports.Page{}); !slices.Equal(eventIDs(got), []domain.EventID{after.ID}) {
			t.Errorf("feed after retention = %v, want its last change %v", eventIDs(got), after.ID)
		}
	})
}

func mustWebhook(t *testing.T, ws domain.WorkspaceID, url string, events ...string) domain.Webhook {
	t.Helper()
	w, err := domain.NewWebhook(ws, domain.WebhookInput{URL: url, Events: events, Description: "Hook for " + url}, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func addWebhook(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, url string, events ...string) domain.Webhook {
	t.Helper()
	w := mustWebhook(t, ws, url, events...)
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Add(ctx, w) })
	return w
}

func getWebhook(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, id domain.WebhookID) (w domain.Webhook) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		w, err = st.Webhooks().Get(ctx, ws, id)
		return err
	})
	return w
}

func disable(t *testing.T, uow ports.UnitOfWork, w domain.Webhook) {
	t.Helper()
	off := false
	if err := w.Update(domain.WebhookPatch{Enabled: &off}, false, t0); err != nil {
		t.Fatal(err)
	}
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Save(ctx, w) })
}

// addEvents adds each event in a transaction of its own, with its
// fan-out.
func addEvents(t *testing.T, uow ports.UnitOfWork, evs ...domain.Event) {
	t.Helper()
	for _, e := range evs {
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })
	}
}

// addDelivery queues e for w, changed by edit before it is added.
func addDelivery(t *testing.T, uow ports.UnitOfWork, w domain.Webhook, e domain.Event, edit func(*domain.WebhookDelivery)) domain.WebhookDelivery {
	t.Helper()
	d := domain.NewDelivery(e, w.ID(), "", t0)
	edit(&d)
	d.NextAttemptAt, d.CreatedAt = domain.Timestamp(d.NextAttemptAt), domain.Timestamp(d.CreatedAt)
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Add(ctx, d) })
	return d
}

func getDelivery(t *testing.T, uow ports.UnitOfWork, w domain.Webhook, id domain.DeliveryID) (d domain.WebhookDelivery) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		d, err = st.Deliveries().Get(ctx, w.Workspace(), w.ID(), id)
		return err
	})
	return d
}

func listDeliveriesPage(t *testing.T, uow ports.UnitOfWork, w domain.Webhook, status *domain.OutboxStatus, p ports.Page) (ds []domain.WebhookDelivery, next string) {
	t.Helper()
	err := uow.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		ds, next, err = st.Deliveries().List(ctx, w.Workspace(), w.ID(), status, p)
		return err
	})
	if err != nil {
		t.Fatalf("Deliveries.List: %v", err)
	}
	return ds, next
}

func listDeliveries(t *testing.T, uow ports.UnitOfWork, w domain.Webhook, status *domain.OutboxStatus, p ports.Page) []domain.WebhookDelivery {
	t.Helper()
	ds, _ := listDeliveriesPage(t, uow, w, status, p)
	return ds
}

func claimDeliveries(t *testing.T, uow ports.UnitOfWork, now time.Time, lease time.Duration, limit, perWebhook int) (ds []ports.DueDelivery) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		ds, err = st.Deliveries().Claim(ctx, now, lease, limit, perWebhook)
		return err
	})
	return ds
}

func countBy(ds []ports.DueDelivery, w domain.WebhookID) int {
	n := 0
	for _, d := range ds {
		if d.Delivery.Webhook == w {
			n++
		}
	}
	return n
}

func webhookID(w domain.Webhook) string          { return string(w.ID()) }
func deliveryID(d domain.WebhookDelivery) string { return string(d.ID) }
func dueID(d ports.DueDelivery) string           { return string(d.Delivery.ID) }

// webhookView shows every field of w, its secrets as their text.
func webhookView(w domain.Webhook) string {
	return fmt.Sprintf("{%s ws=%s url=%q events=%q desc=%q enabled=%t reason=%q secret=%s previous=%s until=%s failing=%s created=%s updated=%s}",
		w.ID(), w.Workspace(), w.URL(), w.Events(), w.Description(), w.Enabled(), w.DisabledReason(), w.Secret().Text(), secretText(w.PreviousSecret()),
		stampPtr(w.PreviousUntil()), stampPtr(w.FailingSince()), stamp(w.CreatedAt()), stamp(w.UpdatedAt()))
}

func secretText(s domain.WebhookSecret) string {
	if s.IsZero() {
		return "none"
	}
	return s.Text()
}

func deliveryView(d domain.WebhookDelivery) string {
	attempts := idsOf(d.Attempts, func(a domain.DeliveryAttempt) string {
		return fmt.Sprintf("{%s %d %s %q %q}", stamp(a.At), a.StatusCode, a.Latency, a.Error, a.Body)
	})
	return fmt.Sprintf("{%s whk=%s ws=%s evt=%s %s %s attempts=[%s] count=%d series=%d next=%s trace=%q created=%s delivered=%s}",
		d.ID, d.Webhook, d.Workspace, d.Event, d.EventType, d.Status, strings.Join(attempts, " "), d.AttemptCount, d.SeriesStart,
		stamp(d.NextAttemptAt), d.TraceParent, stamp(d.CreatedAt), stampPtr(d.DeliveredAt))
}
