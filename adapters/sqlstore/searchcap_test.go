package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// A submission's search text indexes its first 64 KiB only, cut at a
// character boundary: a search finds what is in them and not what comes
// after, and erasing an address still finds it after the cut.
func TestSearchTextIsCapped(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(*testing.T) *sqlstore.DB{"sqlite": openSQLite, "postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, db := t.Context(), open(t)
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			w, err := domain.NewWorkspace("Site", "site", now)
			if err != nil {
				t.Fatal(err)
			}
			f, err := domain.NewForm(w.ID(), domain.FormInput{Name: "Contact", Fields: []domain.Field{
				{Name: "message", Type: domain.FieldTextarea},
				{Name: "notes", Type: domain.FieldTextarea},
				{Name: "email", Type: domain.FieldEmail},
			}}, now)
			if err != nil {
				t.Fatal(err)
			}
			// 70,000 two-byte characters after 12 bytes fill the cap, and one
			// of them straddles the 65,535 bytes left before the mark.
			long := "needle-start" + strings.Repeat("é", 70_000)
			raw := domain.RawSubmission{Order: []string{"message", "notes", "email"}, Fields: map[string][]string{
				"message": {long}, "notes": {"lost-needle"}, "email": {"Bob@Example.com"},
			}}
			sub, err := f.Accept(raw, domain.SubmissionMeta{IPHash: "h"}, domain.SpamRules{}, now)
			if err != nil {
				t.Fatal(err)
			}
			run := func(fn func(context.Context, ports.Stores) error) {
				t.Helper()
				if err := db.WithinTx(ctx, fn); err != nil {
					t.Fatal(err)
				}
			}
			run(func(ctx context.Context, st ports.Stores) error {
				if err := st.Workspaces().Add(ctx, w); err != nil {
					return err
				}
				if err := st.Forms().Add(ctx, f); err != nil {
					return err
				}
				return st.Submissions().Add(ctx, sub)
			})
			size, err := db.Strings(ctx, `SELECT CAST(octet_length(search_text) AS TEXT) FROM submissions`)
			if err != nil {
				t.Fatal(err)
			}
			if len(size) != 1 || size[0] != "65535" { // 64 KiB less the odd byte of a split character
				t.Fatalf("search_text bytes = %v, want 65535", size)
			}
			for q, want := range map[string]int{"NEEDLE-START": 1, "ééé": 1, "lost-needle": 0, "bob@example.com": 0} {
				var got []domain.Submission
				run(func(ctx context.Context, st ports.Stores) (err error) {
					got, _, err = st.Submissions().List(ctx, w.ID(), f.ID(), ports.SubmissionFilter{Query: q}, ports.Page{})
					return err
				})
				if len(got) != want {
					t.Errorf("search %q found %d submissions, want %d", q, len(got), want)
				}
			}
			var erased []domain.SubmissionRef
			run(func(ctx context.Context, st ports.Stores) (err error) {
				erased, err = st.Submissions().DeleteMatching(ctx, w.ID(), "bob@example.com")
				return err
			})
			if len(erased) != 1 || erased[0].ID != sub.ID() {
				t.Fatalf("erasing an address past the cut = %v, want the submission", erased)
			}
		})
	}
}
