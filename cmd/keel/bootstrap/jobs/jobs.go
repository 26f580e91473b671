// Package jobs runs a process's background loops (the HTTP server, the
// mail dispatcher, the policy poller, the scheduler...) under one
// errgroup, so that the composition root only lists them: all start
// together, all stop together, and the process waits for every one.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Job is one long-running loop. Run returns nil once ctx ends and its work
// is wound down, or an error when it cannot go on. Transient failures (a
// database that is briefly away) are the job's own to log and retry; an
// error returned here stops the process.
type Job struct {
	Name string
	Run  func(ctx context.Context) error
}

// Stage is a group of jobs that stop together. Stages stop in order: a
// stage is told to stop once every job of the stages before it has
// returned. Serve puts the HTTP server first, so that the jobs after it
// (the usage writer, say) still run while its last requests finish.
type Stage []Job

// Run starts every job of every stage and returns once all have returned.
// It stops them, stage by stage, when ctx ends or when a job fails; it
// returns the first failure, prefixed with the job's name, or nil.
//
// A job that fails stops the process rather than being restarted: jobs
// already retry what is worth retrying, so an error that reaches here is
// one that a restart of the same loop in the same process would most
// likely meet again, and a node quietly running without its scheduler or
// dispatcher is worse than one that exits and is restarted, loudly, by its
// supervisor. A job that returns nil before ctx ends (a poller turned off)
// just ends; the others go on.
func Run(ctx context.Context, log *slog.Logger, stages ...Stage) error {
	g, failed := errgroup.WithContext(ctx)
	stops := make([]context.CancelFunc, len(stages))
	running := make([]sync.WaitGroup, len(stages))
	for i, stage := range stages {
		// Each stage runs on a context of its own, not ctx: stopping is
		// ordered, so ctx ending must not stop every stage at once.
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		stops[i] = stop
		for _, j := range stage {
			running[i].Add(1)
			g.Go(func() error {
				defer running[i].Done()
				if err := j.Run(sctx); err != nil {
					return fmt.Errorf("%s: %w", j.Name, err)
				}
				log.Info("job stopped", "job", j.Name)
				return nil
			})
		}
	}
	allReturned := make(chan struct{})
	go func() {
		for i := range running {
			running[i].Wait()
		}
		close(allReturned)
	}()
	select {
	case <-failed.Done(): // ctx ended or a job failed
	case <-allReturned:
	}
	for i := range stages {
		stops[i]()
		running[i].Wait()
	}
	return g.Wait()
}

// Every calls fn now, when first is true, and then at each tick of period
// until ctx ends; then it returns nil. It is the loop of the periodic jobs
// (retention, purges, the scheduler), whose failures are fn's to log: a
// tick missed while fn runs is dropped, not queued, so a slow run is not
// followed by a burst.
func Every(ctx context.Context, period time.Duration, first bool, fn func(context.Context)) error {
	t := time.NewTicker(period)
	defer t.Stop()
	if first {
		fn(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// A tick and the end of ctx can be ready together, and select
		// then picks either: no call starts once ctx has ended.
		if ctx.Err() != nil {
			return nil
		}
		fn(ctx)
	}
}
