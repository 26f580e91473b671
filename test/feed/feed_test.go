// Package feed_test checks the change feed's promise where it is hardest
// to keep: PostgreSQL with two nodes writing at once, while a partner
// follows the feed.
package feed_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.Main(m, testdb.Stop)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// node is one Keel process: its own pool, authorizer and services over the
// shared database.
type node struct {
	forms *forms.Service
	msgs  *messaging.Service
}

func newNode(t *testing.T, url string) node {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	c := wallClock{}
	return node{
		forms: forms.NewService(forms.Config{
			UoW: db, Authorizer: authz, Clock: c, MailFrom: "Keel <keel@example.com>", IPHashKey: []byte("key"),
			PerIP: ratelimit.NewRateLimiter(1e9, 1e9, c.Now), PerForm: ratelimit.NewRateLimiter(1e9, 1e9, c.Now),
		}),
		msgs: messaging.NewService(messaging.Config{UoW: db, Authorizer: authz, Clock: c}),
	}
}

// seen is what the reader knows of one event.
type seen struct {
	id, typ, sub string
}

// TestFeedUnderConcurrentWritersPostgres: four writers on two nodes
// create, file and delete or erase submissions while a reader follows
// after= the way a partner would. The reader sees every event exactly
// once, and every change after the ones that committed before it began:
// each writer's changes in the order it made them, and each submission's
// created, updated and deleted in that order.
func TestFeedUnderConcurrentWritersPostgres(t *testing.T) {
	url := testdb.Postgres(t, testdb.MigrateKeel)
	now := time.Now()
	u, _ := domain.NewUser(domain.NewUserInput{Email: "owner@example.com", Name: "O", PasswordHash: "x"}, now)
	ws, _ := domain.NewWorkspace("Acme", "acme", now)
	seed, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	err = seed.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Users().Add(ctx, u); err != nil {
			return err
		}
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		return st.Memberships().Add(ctx, domain.Membership{Workspace: ws.ID(), User: u.ID(), Role: domain.RoleOwner, CreatedAt: now})
	})
	_ = seed.Close()
	if err != nil {
		t.Fatal(err)
	}
	owner := domain.NewUserPrincipal(u.ID(), false, "ses_x")
	nodes := []node{newNode(t, url), newNode(t, url)}
	form, err := nodes[0].forms.CreateForm(t.Context(), owner, "acme", domain.FormInput{
		Name:   "Contact",
		Fields: []domain.Field{{Name: "email", Type: domain.FieldEmail, Required: true}},
	})
	if err != nil {
		t.Fatal(err)
	}

	const writers, rounds = 4, 20
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	progress := make(chan struct{}, 1) // a writer committed: the reader may find more
	nudge := func() {
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	writerErrs := make(chan error, writers)
	// made[w] lists writer w's submissions in the order it made them: the
	// events of a deleted submission no longer carry its address.
	var made [writers][]string
	for w := range writers {
		n := nodes[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				email := fmt.Sprintf("w%d-%02d@example.com", w, r)
				raw := domain.RawSubmission{Fields: map[string][]string{"email": {email}}, Order: []string{"email"}}
				res, err := n.forms.Submit(ctx, forms.SubmitInput{Form: form.ID(), Raw: raw, ClientIP: "198.51.100.4"})
				if err == nil {
					made[w] = append(made[w], string(res.Submission.ID()))
					nudge()
					_, err = n.forms.UpdateSubmissionStatus(ctx, owner, "acme", res.Submission.ID(), domain.SubmissionRead)
				}
				if err == nil {
					nudge()
					if r%2 == 0 {
						err = n.forms.DeleteSubmission(ctx, owner, "acme", res.Submission.ID())
					} else {
						_, err = n.forms.Erase(ctx, owner, "acme", email)
					}
				}
				if err != nil {
					writerErrs <- fmt.Errorf("writer %d round %d: %w", w, r, err)
					cancel()
					return
				}
				nudge()
			}
		}()
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing); nudge() }()

	// The reader follows the feed from node 1, keeping only the last ID, as
	// a partner that restarts would.
	const want = 1 + writers*rounds*3 // the form's creation, then three per submission
	var got []seen
	deadline := time.After(30 * time.Second)
	for after := ""; len(got) < want; {
		evs, _, err := nodes[1].msgs.ListEvents(t.Context(), owner, "acme", "", ports.Page{After: after, Limit: messaging.MaxEventPage})
		if err != nil {
			t.Fatalf("read the feed after %q: %v", after, err)
		}
		for _, e := range evs {
			got = append(got, seen{string(e.ID), e.Type, e.Subject})
			after = string(e.ID)
		}
		if len(evs) > 0 {
			continue
		}
		select {
		case <-progress:
		case <-writing:
			// Every writer is done: what is missing is only hidden until
			// the last transactions are seen to have ended.
		case <-deadline:
			t.Fatalf("the reader saw %d events in 30 s, want %d", len(got), want)
		}
	}
	close(writerErrs)
	for err := range writerErrs {
		t.Fatal(err)
	}
	<-writing
	if evs, _, err := nodes[1].msgs.ListEvents(t.Context(), owner, "acme", "", ports.Page{After: got[len(got)-1].id}); err != nil || len(evs) != 0 {
		t.Fatalf("after the last event: %d more (%v), want none", len(evs), err)
	}

	// Every event once; each submission's three in order; each writer's
	// changes in the order it made them.
	ids := map[string]bool{}
	steps := map[string][]string{}
	var order []string // submissions, in the order their events appear
	for _, e := range got {
		if ids[e.id] {
			t.Fatalf("event %s seen twice", e.id)
		}
		ids[e.id] = true
		if e.typ == domain.EventFormCreated {
			continue
		}
		steps[e.sub] = append(steps[e.sub], e.typ)
		order = append(order, e.sub)
	}
	for w := range writers {
		if len(made[w]) != rounds {
			t.Fatalf("writer %d made %d submissions, want %d", w, len(made[w]), rounds)
		}
		for r, sub := range made[w] {
			if s := steps[sub]; len(s) != 3 || s[0] != domain.EventSubmissionCreated || s[1] != domain.EventSubmissionUpdated || s[2] != domain.EventSubmissionDeleted {
				t.Errorf("writer %d round %d (%s): events %v, want created, updated, deleted", w, r, sub, s)
			}
		}
		last := -1
		for _, sub := range order {
			if r := slices.Index(made[w], sub); r >= 0 {
				if r < last {
					t.Errorf("writer %d: round %d's events appear after round %d's, which it made later", w, r, last)
				}
				last = r
			}
		}
	}
}
