package porttest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// SubmissionScan checks the bounded scan of a filtered SubmissionStore.List:
// open gives a store whose filtered listings examine at most budget rows a
// call. Following the cursors finds every match once, newest first, though
// pages between them may be empty; unfiltered and dense listings fill their
// pages as before.
func SubmissionScan(t *testing.T, open func(t *testing.T) ports.UnitOfWork, budget int) {
	t.Helper()
	uow := open(t)
	ws := addWorkspace(t, uow, "acme")
	f := addForm(t, uow, ws.ID(), simpleForm("Contact"))
	total := 3*budget + budget/2
	// The needles are old: two below the whole budget, one at the bottom
	// of the second scan; the one spam submission sits among the oldest.
	needles := map[int]bool{5: true, 6: true, total - 2*budget: true}
	var all, found, spam []string
	run(t, uow, func(ctx context.Context, st ports.Stores) error {
		for i := range total {
			email := fmt.Sprintf("u%d@example.com", i)
			if needles[i] {
				email = fmt.Sprintf("needle%d@example.com", i)
			}
			sub := accept(t, f, t0.Add(time.Duration(i)*time.Second), "email", email)
			if i == 10 {
				if err := sub.SetStatus(domain.SubmissionSpam, t0); err != nil {
					return err
				}
				spam = append(spam, string(sub.ID()))
			}
			if needles[i] {
				found = append(found, string(sub.ID()))
			}
			all = append(all, string(sub.ID()))
			if err := st.Submissions().Add(ctx, sub); err != nil {
				return err
			}
		}
		return nil
	})
	slices.Reverse(all)
	slices.Reverse(found)
	spamStatus := domain.SubmissionSpam

	type page struct {
		ids  []string
		next string
	}
	follow := func(t *testing.T, flt ports.SubmissionFilter, size int) (pages []page) {
		t.Helper()
		p := ports.Page{Limit: size}
		for range total + 2 {
			var pg page
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				subs, next, err := st.Submissions().List(ctx, ws.ID(), f.ID(), flt, p)
				pg = page{idsOf(subs, func(s domain.Submission) string { return string(s.ID()) }), next}
				return err
			})
			if len(pg.ids) > size {
				t.Fatalf("page %d holds %d, want at most %d", len(pages)+1, len(pg.ids), size)
			}
			pages = append(pages, pg)
			if pg.next == "" {
				return pages
			}
			p.After = pg.next
		}
		t.Fatalf("the cursors never end: %d pages", len(pages))
		return nil
	}
	joined := func(pages []page) (ids []string) {
		for _, p := range pages {
			ids = append(ids, p.ids...)
		}
		return ids
	}

	t.Run("SparseMatchesAcrossEmptyPages", func(t *testing.T) {
		pages := follow(t, ports.SubmissionFilter{Query: "NEEDLE"}, 2)
		if got := joined(pages); !slices.Equal(got, found) {
			t.Fatalf("matches = %v, want %v", got, found)
		}
		empty := 0
		for _, p := range pages[:len(pages)-1] {
			if len(p.ids) == 0 {
				empty++
			}
		}
		// The newest budget rows hold no needle, so the first page is
		// empty with a cursor; so is the third scan's.
		if len(pages[0].ids) != 0 || pages[0].next == "" || empty < 2 {
			t.Errorf("pages = %+v, want the first empty with a cursor and at least two empty", pages)
		}
		// A page that fills ends after its last row: the next call finds
		// what else its scan held.
		one := follow(t, ports.SubmissionFilter{Query: "needle"}, 1)
		if got := joined(one); !slices.Equal(got, found) {
			t.Fatalf("matches in pages of 1 = %v, want %v", got, found)
		}
	})
	t.Run("StatusFilter", func(t *testing.T) {
		if got := joined(follow(t, ports.SubmissionFilter{Status: &spamStatus}, 50)); !slices.Equal(got, spam) {
			t.Fatalf("spam = %v, want %v", got, spam)
		}
		if got := joined(follow(t, ports.SubmissionFilter{Query: "nobody wrote this"}, 50)); len(got) != 0 {
			t.Fatalf("no match = %v, want none", got)
		}
	})
	t.Run("DenseFilterFillsPages", func(t *testing.T) {
		size := budget / 2
		pages := follow(t, ports.SubmissionFilter{Query: "example.com"}, size)
		if got := joined(pages); !slices.Equal(got, all) {
			t.Fatalf("dense listing found %d, want all %d in order", len(got), len(all))
		}
		for i, p := range pages[:len(pages)-1] {
			if len(p.ids) != size {
				t.Errorf("dense page %d holds %d, want %d", i+1, len(p.ids), size)
			}
		}
	})
	t.Run("UnfilteredIsNotBounded", func(t *testing.T) {
		size := 2 * budget
		if size > 200 {
			size = 200
		}
		pages := follow(t, ports.SubmissionFilter{}, size)
		if got := joined(pages); !slices.Equal(got, all) {
			t.Fatalf("unfiltered listing found %d, want all %d in order", len(got), len(all))
		}
		if len(pages[0].ids) != size {
			t.Errorf("unfiltered first page holds %d, want %d", len(pages[0].ids), size)
		}
	})
}
