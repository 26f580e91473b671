package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
)

// recorder notes the order in which jobs return.
type recorder struct {
	mu       sync.Mutex
	returned []string
}

func (r *recorder) note(name string) {
	r.mu.Lock()
	r.returned = append(r.returned, name)
	r.mu.Unlock()
}

func (r *recorder) order() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.returned...)
}

// untilStopped is a job that runs until its context ends. started is
// closed once it runs.
func untilStopped(r *recorder, name string, started chan<- struct{}) jobs.Job {
	return jobs.Job{Name: name, Run: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		r.note(name)
		return nil
	}}
}

var discard = slog.New(slog.DiscardHandler)

func TestEveryJobStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	names := []string{"http", "dispatcher", "usage", "retention", "scheduler"}
	started := make([]chan struct{}, len(names))
	var js []jobs.Job
	for i, n := range names {
		started[i] = make(chan struct{})
		js = append(js, untilStopped(r, n, started[i]))
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- jobs.Run(ctx, discard, jobs.Stage(js[:2]), jobs.Stage(js[2:])) }()
	for _, s := range started {
		<-s
	}
	if got := r.order(); len(got) != 0 {
		t.Fatalf("jobs %v returned before the context ended", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after a clean stop", err)
	}
	got := r.order()
	if len(got) != len(names) {
		t.Fatalf("Run returned while jobs were running: only %v returned", got)
	}
	// The first stage stops before the second is told to.
	for i, n := range got {
		first := n == "http" || n == "dispatcher"
		if first != (i < 2) {
			t.Fatalf("jobs returned in the order %v; want the first stage (http, dispatcher) before the rest", got)
		}
	}
}

func TestAFailingJobStopsTheOthersAndIsReported(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	boom := errors.New("database gone")
	started := make(chan struct{})
	failing := jobs.Job{Name: "scheduler", Run: func(ctx context.Context) error {
		<-started // fail once the other job is running
		return boom
	}}
	err := jobs.Run(t.Context(), discard, jobs.Stage{untilStopped(r, "http", started)}, jobs.Stage{failing})
	if !errors.Is(err, boom) || err.Error() != "scheduler: database gone" {
		t.Fatalf("Run = %v, want the scheduler's error, named", err)
	}
	if got := r.order(); len(got) != 1 || got[0] != "http" {
		t.Fatalf("after a job failed, %v returned; want the http job stopped too", got)
	}
}

func TestEvery(t *testing.T) {
	for _, first := range []bool{true, false} {
		// A period longer than any test: with first, the call comes before
		// any tick; without it, a call can come only from a tick.
		period := time.Hour
		if !first {
			period = time.Millisecond
		}
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := jobs.Every(ctx, period, first, func(context.Context) {
			calls++
			if calls == 2 {
				cancel()
			}
			if first {
				cancel()
			}
		})
		if err != nil {
			t.Errorf("first=%v: Every returned %v, want nil once ctx ends", first, err)
		}
		want := map[bool]int{true: 1, false: 2}[first]
		if calls != want {
			t.Errorf("first=%v: %d calls, want %d", first, calls, want)
		}
		cancel()
	}
}
