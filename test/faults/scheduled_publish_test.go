package faults

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/testdb"
)

// TestKillDuringScheduledPublish schedules many posts for one moment on
// two serve nodes sharing PostgreSQL, both of which run the scheduler,
// and kills with SIGKILL the first node to report a published batch once
// it is seen in the middle of its next one, its updates not committed. The survivor publishes the rest: every post ends
// up published exactly once, with one post.published event (what the
// change feed and webhooks carry), its scheduled time as published_at,
// and one version step.
func TestKillDuringScheduledPublish(t *testing.T) {
	t.Parallel()
	// 500 posts make 5 batches of 100 (cmd/keel/bootstrap's dueBatch)
	// shared by the two nodes, so that the first node to report a batch
	// has more to publish when it is killed.
	const posts = 500
	dbURL := testdb.EmptyPostgres(t)
	// Each node names its connections, so that the test can see in
	// pg_stat_activity which node is in the middle of a publication. They
	// start together, one migrating while the other waits for its lock.
	a := keelproc.Start(t, "A", baseEnv(dbURL+"&application_name=A", t.TempDir()), "serve", "--http-addr", "127.0.0.1:0")
	b := keelproc.Start(t, "B", baseEnv(dbURL+"&application_name=B", t.TempDir()), "serve", "--http-addr", "127.0.0.1:0")
	a.WaitReady(t)
	b.WaitReady(t)
	site := keelproc.NewSite(t, a, "publish", "")

	ids := make([]string, posts+1)
	versions := make([]int, posts+1)
	began := time.Now()
	keelproc.Parallel(t, posts, 8, func(n int) error {
		var e struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		if err := call(t, a, "POST", "/v1/workspaces/"+site.WS+"/entries", site.Token,
			map[string]any{"kind": "post", "title": fmt.Sprintf("Post %d", n), "body": "Scheduled."}, 201, &e); err != nil {
			return err
		}
		ids[n], versions[n] = e.ID, e.Version
		return nil
	})
	// Scheduling takes about as long as creating did; the moment leaves
	// twice that, so that no post is due before all are scheduled even
	// on a machine whose load changes in between.
	at := time.Now().Add(2*time.Since(began) + 3*time.Second).UTC().Truncate(time.Second)
	keelproc.Parallel(t, posts, 8, func(n int) error {
		var e struct {
			Status  string `json:"status"`
			Version int    `json:"version"`
		}
		if err := call(t, a, "POST", "/v1/workspaces/"+site.WS+"/entries/"+ids[n]+"/publish", site.Token,
			map[string]any{"publish_at": at.Format(time.RFC3339)}, 200, &e); err != nil {
			return err
		}
		if e.Status != "scheduled" {
			return fmt.Errorf("post %d: status %q after scheduling for %v, want scheduled", n, e.Status, at)
		}
		versions[n] = e.Version
		return nil
	})
	scheduled := time.Since(began)
	if time.Now().After(at) {
		t.Fatalf("scheduling ended after the moment it scheduled for (%v): the posts were due before all were scheduled", at)
	}

	first := make(chan *keelproc.Proc, 2)
	stop := make(chan struct{})
	defer close(stop)
	for _, p := range []*keelproc.Proc{a, b} {
		go func() {
			if p.Out.Wait("published scheduled entries", time.Until(at)+30*time.Second, stop) != nil {
				first <- p
			}
		}()
	}
	var victim, survivor *keelproc.Proc
	select {
	case victim = <-first:
	case <-time.After(time.Until(at) + 30*time.Second):
		t.Fatalf("no node published within 30s of %v:\nA:\n%s\nB:\n%s", at, a.Out, b.Out)
	}
	survivor = map[*keelproc.Proc]*keelproc.Proc{a: b, b: a}[victim]

	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The victim goes on with its next batch: it is killed once it has
	// updated entries in a transaction it has not committed.
	for deadline := time.Now().Add(10 * time.Second); !publishing(t, db, victim.Name); {
		if time.Now().After(deadline) {
			t.Fatalf("%s started no further publication within 10s of its first:\n%s", victim.Name, victim.Out)
		}
	}
	victim.Kill(t)
	published := func() int {
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM entries WHERE status = 'published'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	atKill := published()
	if atKill == posts {
		t.Fatalf("all %d posts were published when %s was killed: the kill came too late to test anything", posts, victim.Name)
	}
	for deadline := time.Now().Add(30 * time.Second); published() < posts; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d posts published 30s after %s was killed:\n%s", published(), posts, victim.Name, survivor.Out)
		}
	}

	rows, err := db.QueryContext(t.Context(), `SELECT e.id, e.status, e.version, e.published_at,
		(SELECT count(*) FROM events v WHERE v.subject = e.id AND v.type = 'post.published')
		FROM entries e`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[string]int{}
	for n := 1; n <= posts; n++ {
		want[ids[n]] = versions[n]
	}
	seen := 0
	for rows.Next() {
		var (
			id, status      string
			version, events int
			publishedAt     sql.NullTime
		)
		if err := rows.Scan(&id, &status, &version, &publishedAt, &events); err != nil {
			t.Fatal(err)
		}
		scheduled, ok := want[id]
		if !ok {
			t.Errorf("entry %s was not made by the test", id)
			continue
		}
		seen++
		if status != "published" || events != 1 || version != scheduled+1 || !publishedAt.Valid || !publishedAt.Time.Equal(at) {
			t.Errorf("post %s: %s, version %d (scheduled at version %d), published_at %v (scheduled for %v), %d post.published events; want published once: one event, one version step, published_at the scheduled time",
				id, status, version, scheduled, publishedAt.Time, at, events)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != posts {
		t.Errorf("%d of %d posts found", seen, posts)
	}
	if survivor.Out.Count("published scheduled entries") == 0 {
		t.Errorf("%s never published: the test did not see the survivor take over", survivor.Name)
	}
	t.Logf("%d posts created and scheduled in %v, due at %v; %s killed in the middle of a batch with %d published; %s published the rest (%d batches logged)",
		posts, scheduled.Round(time.Millisecond), at.Format(time.TimeOnly), victim.Name, atKill, survivor.Name, survivor.Out.Count("published scheduled entries"))
	survivor.Stop(t)
}

// publishing reports whether node's connections hold a transaction that
// has written to entries and not yet ended: a publication in progress.
// Polling is the only way to see another process's transaction.
func publishing(t *testing.T, db *sql.DB, node string) bool {
	t.Helper()
	var n int
	err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
		WHERE a.application_name = $1 AND a.backend_xid IS NOT NULL
		AND l.relation = 'entries'::regclass AND l.mode = 'RowExclusiveLock'`, node).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// call is MustCall that returns its failure instead of ending the test,
// for keelproc.Parallel's workers.
func call(t *testing.T, p *keelproc.Proc, method, path, token string, body any, want int, into any) error {
	status, out, err := p.Call(t.Context(), method, path, token, body)
	if err != nil {
		return fmt.Errorf("%s %s: %v", method, path, err)
	}
	if status != want {
		return fmt.Errorf("%s %s = %d %s, want %d", method, path, status, out, want)
	}
	if into != nil {
		return json.Unmarshal(out, into)
	}
	return nil
}
