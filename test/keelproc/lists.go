package keelproc

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

// List reads every page of a /v1 list endpoint at path (which may carry a
// query of its own) into a slice of T, limit items a page, following
// next_cursor until it is null.
func List[T any](t *testing.T, p *Proc, token, path string, limit int) []T {
	t.Helper()
	var all []T
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for cursor := ""; ; {
		var page struct {
			Data       []T     `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		p.MustCall(t, "GET", path+sep+"limit="+strconv.Itoa(limit)+"&cursor="+cursor, token, nil, 200, &page)
		all = append(all, page.Data...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all
		}
		cursor = *page.NextCursor
	}
}

// Parallel calls do(n) for n from 1 to count on workers goroutines, and
// fails the test, after all have run, with every error they returned: a
// load of submissions that must all land before the test looks at them.
func Parallel(t *testing.T, count, workers int, do func(n int) error) {
	t.Helper()
	ns := make(chan int)
	errs := make(chan error, count)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for n := range ns {
				if err := do(n); err != nil {
					errs <- err
				}
			}
		})
	}
	for n := 1; n <= count; n++ {
		ns <- n
	}
	close(ns)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}
