package porttest

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func forms(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("AddGetUpdate", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		f := addForm(t, uow, ws.ID(), fullForm())
		if got := getForm(t, uow, ws.ID(), f.ID()); formView(got) != formView(f) {
			t.Errorf("Get = %s\nwant %s", formView(got), formView(f))
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Forms().GetPublic(ctx, f.ID())
			if err != nil {
				return fmt.Errorf("get public: %w", err)
			}
			if formView(got) != formView(f) {
				t.Errorf("GetPublic = %s\nwant %s", formView(got), formView(f))
			}
			_, err = st.Forms().Get(ctx, other.ID(), f.ID())
			wantErr(t, "Get(other workspace)", err, domain.ErrNotFound)
			_, err = st.Forms().Get(ctx, ws.ID(), domain.FormID(domain.NewID(domain.PrefixForm, t0)))
			wantErr(t, "Get(unknown)", err, domain.ErrNotFound)
			_, err = st.Forms().GetPublic(ctx, domain.FormID(domain.NewID(domain.PrefixForm, t0)))
			wantErr(t, "GetPublic(unknown)", err, domain.ErrNotFound)
			return nil
		})

		in := simpleForm("Renamed")
		in.Status, in.RetentionDays = "closed", 7
		if err := f.Replace(in, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Forms().Update(ctx, f) })
		got := getForm(t, uow, ws.ID(), f.ID())
		if formView(got) != formView(f) {
			t.Errorf("after Update: %s\nwant %s", formView(got), formView(f))
		}
		if got.Status() != domain.FormClosed || got.Name() != "Renamed" || !got.UpdatedAt().Equal(domain.Timestamp(t0.Add(time.Hour))) {
			t.Errorf("after Update: status %s, name %q, updated %s", got.Status(), got.Name(), stamp(got.UpdatedAt()))
		}

		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			at, err := st.Forms().UpdatedAt(ctx, ws.ID(), f.ID())
			if err != nil || !at.Equal(f.UpdatedAt()) {
				t.Errorf("UpdatedAt = %s, %v; want %s", stamp(at), err, stamp(f.UpdatedAt()))
			}
			_, err = st.Forms().UpdatedAt(ctx, other.ID(), f.ID())
			wantErr(t, "UpdatedAt(other workspace)", err, domain.ErrNotFound)
			_, err = st.Forms().UpdatedAt(ctx, ws.ID(), domain.FormID(domain.NewID(domain.PrefixForm, t0)))
			wantErr(t, "UpdatedAt(unknown)", err, domain.ErrNotFound)
			return nil
		})

		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Forms().Update(ctx, mustForm(t, ws.ID(), simpleForm("Never added")))
		})
		wantErr(t, "Update(unknown)", err, domain.ErrNotFound)
		foreign, err := domain.RehydrateForm(f.ID(), other.ID(), f.Definition(), f.CreatedAt(), f.UpdatedAt())
		if err != nil {
			t.Fatal(err)
		}
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Forms().Update(ctx, foreign) })
		wantErr(t, "Update(other workspace)", err, domain.ErrNotFound)
	})
	t.Run("DefinitionRoundTrips", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f := addForm(t, uow, ws.ID(), fullForm())
		got := getForm(t, uow, ws.ID(), f.ID())
		if want := defView(fullForm()); defView(got.Definition()) != want {
			t.Fatalf("stored definition:\n%s\nwant\n%s", defView(got.Definition()), want)
		}
		// The stored form must work, not only look right: its pattern and
		// templates are compiled again when it is read.
		_, err := got.Accept(rawOf("email", "a@example.com", "name", "R2D2", "agree", "on"), domain.SubmissionMeta{}, domain.SpamRules{}, t0)
		if domain.KindOf(err) != domain.KindInvalid || !strings.Contains(fmt.Sprint(err.(*domain.Error).Fields), "pattern_mismatch") {
			t.Errorf("Accept(name against the pattern) = %v, want pattern_mismatch", err)
		}
		sub := accept(t, got, t0, "email", "Alice@Example.COM", "name", "Alice", "agree", "on", "tags", "x", "tags", "z")
		msgs, kinds, err := got.Mail(sub, "Keel <noreply@keel.test>", t0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(kinds, []string{domain.KindNotification, domain.KindAutoresponder}) {
			t.Fatalf("Mail kinds = %v", kinds)
		}
		if s := msgs[0].Subject(); s != "New Contact: Alice" {
			t.Errorf("notification subject = %q, want the stored template rendered", s)
		}
		if h := msgs[1].HTML(); h != "<p>Hello Alice &amp; co</p>" {
			t.Errorf("autoresponder HTML = %q, want the stored html/template rendered", h)
		}
	})
	t.Run("ListPaginatesByWorkspace", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var want []string
		for i := range 5 {
			want = append(want, string(addForm(t, uow, ws.ID(), simpleForm(fmt.Sprintf("Form %d", i))).ID()))
			addForm(t, uow, other.ID(), simpleForm("Theirs"))
		}
		slices.Sort(want)
		checkPages(t, "Forms.List", want, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				fs, n, err := st.Forms().List(ctx, ws.ID(), p)
				ids, next = idsOf(fs, func(f domain.Form) string { return string(f.ID()) }), n
				return err
			})
			return ids, next
		})
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Forms().List(ctx, ws.ID(), ports.Page{After: "x' OR 1=1 --"})
			return err
		})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("List(bad cursor) err = %v, want invalid", err)
		}
	})
	t.Run("WithRetention", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var want []string
		for i, w := range []domain.WorkspaceID{ws.ID(), other.ID(), ws.ID()} {
			in := simpleForm("Kept")
			in.RetentionDays = 30 * (i + 1)
			want = append(want, string(addForm(t, uow, w, in).ID()))
			addForm(t, uow, w, simpleForm("Forever"))
		}
		slices.Sort(want)
		var got []domain.Form
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			got, err = st.Forms().WithRetention(ctx)
			return err
		})
		if ids := idsOf(got, func(f domain.Form) string { return string(f.ID()) }); !slices.Equal(ids, want) {
			t.Fatalf("WithRetention = %v, want %v", ids, want)
		}
		for _, f := range got {
			if f.RetentionDays() < 30 {
				t.Errorf("form %s: RetentionDays = %d", f.ID(), f.RetentionDays())
			}
		}
	})
	t.Run("DeleteCascades", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		f, kept := addForm(t, uow, ws.ID(), fullForm()), addForm(t, uow, ws.ID(), fullForm())
		sub := addSubmission(t, uow, accept(t, f, t0, "email", "bob@example.com", "agree", "on"))
		msgs := queueMail(t, uow, f, sub)
		keptSub := addSubmission(t, uow, accept(t, kept, t0, "email", "bob@example.com", "agree", "on"))
		keptMsgs := queueMail(t, uow, kept, keptSub)

		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Forms().Delete(ctx, other.ID(), f.ID()) })
		wantErr(t, "Delete(other workspace)", err, domain.ErrNotFound)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Forms().Delete(ctx, ws.ID(), f.ID()) })
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Forms().Delete(ctx, ws.ID(), f.ID()) })
		wantErr(t, "Delete(deleted)", err, domain.ErrNotFound)

		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Forms().Get(ctx, ws.ID(), f.ID())
			wantErr(t, "Get(deleted form)", err, domain.ErrNotFound)
			_, err = st.Submissions().Get(ctx, ws.ID(), sub.ID())
			wantErr(t, "Get(submission of deleted form)", err, domain.ErrNotFound)
			for _, m := range msgs {
				_, err = st.Outbox().Get(ctx, ws.ID(), m.Message.ID())
				wantErr(t, "Get(message of deleted form)", err, domain.ErrNotFound)
			}
			if _, err := st.Submissions().Get(ctx, ws.ID(), keptSub.ID()); err != nil {
				t.Errorf("submission of another form: %v", err)
			}
			for _, m := range keptMsgs {
				if _, err := st.Outbox().Get(ctx, ws.ID(), m.Message.ID()); err != nil {
					t.Errorf("message of another form: %v", err)
				}
			}
			return nil
		})
	})
	t.Run("WorkspaceDeleteCascades", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f := addForm(t, uow, ws.ID(), fullForm())
		sub := addSubmission(t, uow, accept(t, f, t0, "email", "bob@example.com", "agree", "on"))
		msgs := queueMail(t, uow, f, sub)
		loose := addMessage(t, uow, ws.ID(), "", "carol@example.com", func(*domain.OutboxMessage) {})
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Delete(ctx, ws.ID()) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Forms().GetPublic(ctx, f.ID())
			wantErr(t, "GetPublic(form of deleted workspace)", err, domain.ErrNotFound)
			_, err = st.Submissions().Get(ctx, ws.ID(), sub.ID())
			wantErr(t, "Get(submission of deleted workspace)", err, domain.ErrNotFound)
			for _, m := range append(msgs, loose) {
				_, err = st.Outbox().Get(ctx, ws.ID(), m.Message.ID())
				wantErr(t, "Get(message of deleted workspace)", err, domain.ErrNotFound)
			}
			return nil
		})
	})
}

func submissions(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	// Anonymous visitors choose how large a submission is, so a page is
	// bounded by bytes as well as by rows: it ends after the submission
	// that brings it to MaxPageBytes, and holds one that alone is larger.
	t.Run("ListPageEndsAtMaxPageBytes", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f := addForm(t, uow, ws.ID(), simpleForm("Big"))
		sizes := []int{10, ports.MaxPageBytes * 6 / 10, 10, ports.MaxPageBytes * 6 / 10, ports.MaxPageBytes * 3 / 2,
			10, 10, ports.MaxPageBytes * 6 / 10, ports.MaxPageBytes * 6 / 10, 10}
		var want []string
		for i, n := range sizes {
			at := t0.Add(time.Duration(i) * time.Second)
			sub := domain.RehydrateSubmission(domain.SubmissionID(domain.NewID(domain.PrefixSubmission, at)), f.ID(), ws.ID(),
				[]domain.Value{{Field: "message", Values: []string{strings.Repeat("x", n)}}}, domain.SubmissionNew, domain.SubmissionMeta{}, at, at)
			addSubmission(t, uow, sub)
			want = append([]string{string(sub.ID())}, want...)
		}
		for _, limit := range []int{0, 3} {
			var got []string
			page := ports.Page{Limit: limit}
			pages := 0
			for {
				var subs []domain.Submission
				var next string
				run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
					subs, next, err = st.Submissions().List(ctx, ws.ID(), f.ID(), ports.SubmissionFilter{}, page)
					return err
				})
				pages++
				if len(subs) == 0 || len(subs) > page.Size() {
					t.Fatalf("limit %d, page %d: %d submissions", limit, pages, len(subs))
				}
				size := 0
				for _, sub := range subs[:len(subs)-1] {
					size += ports.SubmissionBytes(sub)
				}
				if size >= ports.MaxPageBytes {
					t.Errorf("limit %d, page %d: %d submissions, %d bytes before the last: past MaxPageBytes", limit, pages, len(subs), size)
				}
				got = append(got, idsOf(subs, func(s domain.Submission) string { return string(s.ID()) })...)
				if next == "" {
					break
				}
				page.After = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("limit %d: pages listed %v\nwant %v", limit, got, want)
			}
			if limit == 0 && pages < 4 {
				t.Errorf("%d pages for %.1f MB of submissions: the pages did not end at MaxPageBytes", pages, float64(5*ports.MaxPageBytes)/(1<<20))
			}
		}
	})
	// A multiselect's List mark must survive storage: one chosen option is
	// otherwise indistinguishable from a plain field's value.
	// A file field's limits and a submission's files (name, type, size,
	// blob key) are stored with the form and the submission's values.
	t.Run("FileFieldAndFilesRoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		in := simpleForm("Jobs")
		in.Fields = append(in.Fields, domain.Field{Name: "cv", Type: domain.FieldFile, MaxFiles: 2, MaxFileSize: 1000, Accept: []string{"pdf", "image"}})
		f := getForm(t, uow, ws.ID(), addForm(t, uow, ws.ID(), in).ID())
		cv, ok := f.FileField("cv")
		if !ok || cv.FileCount() != 2 || cv.FileSize() != 1000 || !slices.Equal(cv.Accept, []string{"pdf", "image"}) {
			t.Fatalf("stored file field = %+v", cv)
		}
		files := []domain.SubmissionFile{
			{Name: "cv é.pdf", ContentType: "application/pdf", Size: 900, Key: "submissions/x/sub_1/1"},
			{Name: "photo.png", ContentType: "image/png", Size: 12, Key: "submissions/x/sub_1/2"},
		}
		raw := rawOf()
		raw.Order = append(raw.Order, "cv")
		raw.Files = map[string][]domain.SubmissionFile{"cv": files}
		for _, fd := range f.Fields() {
			if fd.Required && fd.Type != domain.FieldFile {
				raw.Fields[fd.Name] = []string{"x"}
				raw.Order = append(raw.Order, fd.Name)
			}
		}
		sub, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		got := getSubmission(t, uow, ws.ID(), addSubmission(t, uow, sub).ID())
		if !slices.Equal(got.Files(), files) {
			t.Fatalf("stored files = %+v, want %+v", got.Files(), files)
		}
	})
	t.Run("IgnoredFieldIsKept", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f := addForm(t, uow, ws.ID(), fullForm())
		raw := rawOf("email", "a@example.com", "agree", "on", "send", "Send")
		raw.FormEncoded = true
		sub, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		plain := addSubmission(t, uow, accept(t, f, t0, "email", "b@example.com", "agree", "on"))
		if got := getSubmission(t, uow, ws.ID(), addSubmission(t, uow, sub).ID()); got.IgnoredField() != "send" {
			t.Errorf("Get: IgnoredField = %q, want send", got.IgnoredField())
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			subs, _, err := st.Submissions().List(ctx, ws.ID(), f.ID(), ports.SubmissionFilter{}, ports.Page{})
			for _, s := range subs {
				if want := map[domain.SubmissionID]string{sub.ID(): "send", plain.ID(): ""}[s.ID()]; s.IgnoredField() != want {
					t.Errorf("List: %s IgnoredField = %q, want %q", s.ID(), s.IgnoredField(), want)
				}
			}
			return err
		})
	})
	t.Run("OneOptionMultiselectStaysAList", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f := addForm(t, uow, ws.ID(), fullForm())
		sub := addSubmission(t, uow, accept(t, f, t0, "email", "a@example.com", "agree", "on", "tags", "y"))
		got := getSubmission(t, uow, ws.ID(), sub.ID())
		for _, v := range got.Values() {
			if want := v.Field == "tags"; v.List != want {
				t.Errorf("%s: List = %v, want %v", v.Field, v.List, want)
			}
		}
	})
	t.Run("AddGetUpdateDelete", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		f := addForm(t, uow, ws.ID(), fullForm())
		raw := rawOf("email", "Alice@Example.COM", "name", "Alice", "message", "Hi,\r\nthere", "age", "42.0", "site", "https://example.com/x",
			"phone", "+44 20 7946 0000", "date", "2026-11-25", "topic", "b", "tags", "z", "tags", "x", "agree", "on", "ref", "ad-7")
		meta := domain.SubmissionMeta{IPHash: "9f86d081", UserAgent: "Mozilla/5.0 (X11)", Referrer: "https://example.com/contact", Origin: "https://example.com"}
		sub, err := f.Accept(raw, meta, domain.SpamRules{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		addSubmission(t, uow, sub)
		msgs := queueMail(t, uow, f, sub)
		if got := getSubmission(t, uow, ws.ID(), sub.ID()); submissionView(got) != submissionView(sub) {
			t.Errorf("Get = %s\nwant %s", submissionView(got), submissionView(sub))
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Submissions().Get(ctx, other.ID(), sub.ID())
			wantErr(t, "Get(other workspace)", err, domain.ErrNotFound)
			_, err = st.Submissions().Get(ctx, ws.ID(), domain.SubmissionID(domain.NewID(domain.PrefixSubmission, t0)))
			wantErr(t, "Get(unknown)", err, domain.ErrNotFound)
			return nil
		})

		if err := sub.SetStatus(domain.SubmissionArchived, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Submissions().Update(ctx, sub) })
		if got := getSubmission(t, uow, ws.ID(), sub.ID()); submissionView(got) != submissionView(sub) {
			t.Errorf("after Update: %s\nwant %s", submissionView(got), submissionView(sub))
		}
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Submissions().Update(ctx, accept(t, f, t0, "email", "x@example.com", "agree", "on"))
		})
		wantErr(t, "Update(unknown)", err, domain.ErrNotFound)

		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Submissions().Delete(ctx, other.ID(), sub.ID())
		})
		wantErr(t, "Delete(other workspace)", err, domain.ErrNotFound)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return st.Submissions().Delete(ctx, ws.ID(), sub.ID())
		})
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Submissions().Get(ctx, ws.ID(), sub.ID())
			wantErr(t, "Get(deleted)", err, domain.ErrNotFound)
			for _, m := range msgs {
				_, err = st.Outbox().Get(ctx, ws.ID(), m.Message.ID())
				wantErr(t, "Get(message of deleted submission)", err, domain.ErrNotFound)
			}
			wantErr(t, "Delete(deleted)", st.Submissions().Delete(ctx, ws.ID(), sub.ID()), domain.ErrNotFound)
			return nil
		})
	})
	t.Run("ListFilters", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f, otherForm := addForm(t, uow, ws.ID(), fullForm()), addForm(t, uow, ws.ID(), fullForm())
		at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
		add := func(f domain.Form, m int, status domain.SubmissionStatus, kv ...string) string {
			sub := accept(t, f, at(m), append([]string{"agree", "on"}, kv...)...)
			if status != domain.SubmissionNew {
				if err := sub.SetStatus(status, at(m)); err != nil {
					t.Fatal(err)
				}
			}
			return string(addSubmission(t, uow, sub).ID())
		}
		alice := add(f, 0, domain.SubmissionNew, "email", "alice@example.com", "message", "Hello")
		bob := add(f, 1, domain.SubmissionRead, "email", "Bob@Example.com", "message", "50%_off today")
		carol := add(f, 2, domain.SubmissionNew, "email", "carol@example.com", "message", "50 off today")
		dave := add(f, 3, domain.SubmissionArchived, "email", "dave@example.com", "message", `back\slash and under_score`)
		add(otherForm, 4, domain.SubmissionNew, "email", "alice@example.com", "message", "Hello")

		list := func(flt ports.SubmissionFilter) []string {
			var subs []domain.Submission
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				subs, _, err = st.Submissions().List(ctx, ws.ID(), f.ID(), flt, ports.Page{})
				return err
			})
			return idsOf(subs, func(s domain.Submission) string { return string(s.ID()) })
		}
		read, archived := domain.SubmissionRead, domain.SubmissionArchived
		for _, tt := range []struct {
			name string
			flt  ports.SubmissionFilter
			want []string
		}{
			{"none", ports.SubmissionFilter{}, []string{dave, carol, bob, alice}},
			{"status", ports.SubmissionFilter{Status: &read}, []string{bob}},
			{"since", ports.SubmissionFilter{Since: at(1)}, []string{dave, carol, bob}},
			{"until", ports.SubmissionFilter{Until: at(1)}, []string{alice}},
			{"since and until", ports.SubmissionFilter{Since: at(1), Until: at(3)}, []string{carol, bob}},
			{"since in another zone", ports.SubmissionFilter{Since: at(2).In(time.FixedZone("X", -5*3600))}, []string{dave, carol}},
			{"query ignores case", ports.SubmissionFilter{Query: "EXAMPLE.COM"}, []string{dave, carol, bob, alice}},
			{"query in one value", ports.SubmissionFilter{Query: "bob@"}, []string{bob}},
			{"query with % and _", ports.SubmissionFilter{Query: "50%_off"}, []string{bob}},
			{"query _ is literal", ports.SubmissionFilter{Query: "_"}, []string{dave, bob}},
			{"query % is literal", ports.SubmissionFilter{Query: "%"}, []string{bob}},
			{"query backslash is literal", ports.SubmissionFilter{Query: `k\s`}, []string{dave}},
			{"query misses", ports.SubmissionFilter{Query: "zebra"}, nil},
			{"everything", ports.SubmissionFilter{Status: &archived, Since: at(0), Until: at(4), Query: "SLASH"}, []string{dave}},
		} {
			if got := list(tt.flt); !slices.Equal(got, tt.want) {
				t.Errorf("List(%s) = %v, want %v", tt.name, got, tt.want)
			}
		}
	})
	t.Run("ListPaginatesNewestFirst", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f := addForm(t, uow, ws.ID(), fullForm())
		var want []string
		for i := range 5 {
			sub := accept(t, f, t0.Add(time.Duration(i)*time.Second), "email", fmt.Sprintf("u%d@example.com", i), "agree", "on")
			want = append(want, string(addSubmission(t, uow, sub).ID()))
		}
		slices.Reverse(want)
		checkPages(t, "Submissions.List", want, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				subs, n, err := st.Submissions().List(ctx, ws.ID(), f.ID(), ports.SubmissionFilter{}, p)
				ids, next = idsOf(subs, func(s domain.Submission) string { return string(s.ID()) }), n
				return err
			})
			return ids, next
		})
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Submissions().List(ctx, ws.ID(), f.ID(), ports.SubmissionFilter{}, ports.Page{After: string(f.ID())})
			return err
		})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("List(cursor of another kind) err = %v, want invalid", err)
		}
	})
	t.Run("DeleteMatchingIsExact", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		f, theirs := addForm(t, uow, ws.ID(), fullForm()), addForm(t, uow, other.ID(), fullForm())
		add := func(f domain.Form, kv ...string) domain.Submission {
			return addSubmission(t, uow, accept(t, f, t0, append([]string{"agree", "on"}, kv...)...))
		}
		mixedCase := add(f, "email", "Bob@Example.com")
		msgs := queueMail(t, uow, f, mixedCase)
		inText := add(f, "email", "alice@example.com", "message", "BOB@EXAMPLE.COM")
		longer := add(f, "email", "xbob@example.com")
		mentioned := add(f, "email", "carol@example.com", "message", "Ask bob@example.com about it")
		elsewhere := add(theirs, "email", "bob@example.com")

		var refs []domain.SubmissionRef
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			refs, err = st.Submissions().DeleteMatching(ctx, ws.ID(), "bob@example.com")
			return err
		})
		if got, want := slices.Sorted(slices.Values(refViews(refs))), slices.Sorted(slices.Values(refViews([]domain.SubmissionRef{mixedCase.Ref(), inText.Ref()}))); !slices.Equal(got, want) {
			t.Errorf("DeleteMatching = %v, want %v", got, want)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, s := range []domain.Submission{mixedCase, inText} {
				_, err := st.Submissions().Get(ctx, ws.ID(), s.ID())
				wantErr(t, "Get(erased "+s.Get("email")+")", err, domain.ErrNotFound)
			}
			for _, m := range msgs {
				_, err := st.Outbox().Get(ctx, ws.ID(), m.Message.ID())
				wantErr(t, "Get(message of erased submission)", err, domain.ErrNotFound)
			}
			for _, s := range []domain.Submission{longer, mentioned, elsewhere} {
				if _, err := st.Submissions().Get(ctx, s.Workspace(), s.ID()); err != nil {
					t.Errorf("submission from %s: %v", s.Get("email"), err)
				}
			}
			return nil
		})
	})
	t.Run("DeleteOlderThan", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f, otherForm := addForm(t, uow, ws.ID(), fullForm()), addForm(t, uow, ws.ID(), fullForm())
		var subs []domain.Submission
		for i := range 5 {
			// Added newest first, so that IDs and creation times disagree.
			sub := accept(t, f, t0.Add(time.Duration(4-i)*time.Hour), "email", fmt.Sprintf("u%d@example.com", i), "agree", "on")
			subs = append([]domain.Submission{addSubmission(t, uow, sub)}, subs...)
		}
		old := addSubmission(t, uow, accept(t, otherForm, t0.Add(-time.Hour), "email", "old@example.com", "agree", "on"))
		msgs := queueMail(t, uow, f, subs[0])
		deleteOlder := func(limit int) (refs []domain.SubmissionRef) {
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				refs, err = st.Submissions().DeleteOlderThan(ctx, f.ID(), t0.Add(3*time.Hour), limit)
				return err
			})
			return refs
		}
		// Oldest first: subs is sorted by creation time.
		for i, want := range [][]domain.SubmissionRef{{subs[0].Ref(), subs[1].Ref()}, {subs[2].Ref()}, nil} {
			if got := refViews(deleteOlder(2)); !slices.Equal(got, refViews(want)) {
				t.Fatalf("DeleteOlderThan call %d = %v, want %v", i+1, got, refViews(want))
			}
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for i, s := range subs {
				_, err := st.Submissions().Get(ctx, ws.ID(), s.ID())
				if gone := i < 3; gone {
					wantErr(t, fmt.Sprintf("Get(submission %d)", i), err, domain.ErrNotFound)
				} else if err != nil {
					t.Errorf("submission %d, created at the cut-off or after: %v", i, err)
				}
			}
			for _, m := range msgs {
				_, err := st.Outbox().Get(ctx, ws.ID(), m.Message.ID())
				wantErr(t, "Get(message of expired submission)", err, domain.ErrNotFound)
			}
			if _, err := st.Submissions().Get(ctx, ws.ID(), old.ID()); err != nil {
				t.Errorf("submission of another form: %v", err)
			}
			return nil
		})
	})
	spamAndSummaries(t, open)
}

func outbox(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("AddGetList", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		f := addForm(t, uow, ws.ID(), fullForm())
		sub := addSubmission(t, uow, accept(t, f, t0, "email", "Zoë.Smith@Example.com", "name", "Zoe", "agree", "on"))
		msgs := queueMail(t, uow, f, sub)
		loose := addMessage(t, uow, ws.ID(), "", `"Ops, Team" <ops@example.com>`, func(m *domain.OutboxMessage) {
			m.Status = domain.OutboxDead
		})
		addMessage(t, uow, other.ID(), "", "theirs@example.com", func(*domain.OutboxMessage) {})
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, m := range append(msgs, loose) {
				got, err := st.Outbox().Get(ctx, ws.ID(), m.Message.ID())
				if err != nil {
					return fmt.Errorf("get %s: %w", m.Message.ID(), err)
				}
				if outboxView(got) != outboxView(m) {
					t.Errorf("Get = %s\nwant %s", outboxView(got), outboxView(m))
				}
			}
			_, err := st.Outbox().Get(ctx, other.ID(), msgs[0].Message.ID())
			wantErr(t, "Get(other workspace)", err, domain.ErrNotFound)
			_, err = st.Outbox().Get(ctx, ws.ID(), domain.NewID("msg", t0))
			wantErr(t, "Get(unknown)", err, domain.ErrNotFound)

			dead := domain.OutboxDead
			ms, _, err := st.Outbox().List(ctx, ws.ID(), &dead, ports.Page{})
			if err != nil {
				return err
			}
			if ids := idsOf(ms, messageID); !slices.Equal(ids, []string{loose.Message.ID()}) {
				t.Errorf("List(dead) = %v, want %v", ids, loose.Message.ID())
			}
			return nil
		})
		want := idsOf(append(msgs, loose), messageID)
		slices.Reverse(want)
		checkPages(t, "Outbox.List", want, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				ms, n, err := st.Outbox().List(ctx, ws.ID(), nil, p)
				ids, next = idsOf(ms, messageID), n
				return err
			})
			return ids, next
		})
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Outbox().List(ctx, ws.ID(), nil, ports.Page{After: "msg_'; DROP TABLE x"})
			return err
		})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("List(bad cursor) err = %v, want invalid", err)
		}
	})
	t.Run("ClaimLeasesAndSaveReleases", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		early := addMessage(t, uow, ws.ID(), "", "a@example.com", func(m *domain.OutboxMessage) { m.NextAttemptAt = domain.Timestamp(t0.Add(-time.Minute)) })
		late := addMessage(t, uow, ws.ID(), "", "b@example.com", func(*domain.OutboxMessage) {})
		addMessage(t, uow, ws.ID(), "", "c@example.com", func(m *domain.OutboxMessage) { m.NextAttemptAt = domain.Timestamp(t0.Add(time.Hour)) })
		for _, st := range []domain.OutboxStatus{domain.OutboxSent, domain.OutboxFailed, domain.OutboxDead} {
			addMessage(t, uow, ws.ID(), "", st.String()+"@example.com", func(m *domain.OutboxMessage) { m.Status = st })
		}

		got := claim(t, uow, t0, time.Minute, 10)
		if ids := idsOf(got, messageID); !slices.Equal(ids, idsOf([]domain.OutboxMessage{early, late}, messageID)) {
			t.Fatalf("Claim = %v, want the two due pending messages, earliest due first", ids)
		}
		if outboxView(got[0]) != outboxView(early) {
			t.Errorf("claimed %s\nwant %s", outboxView(got[0]), outboxView(early))
		}
		if again := claim(t, uow, t0.Add(59*time.Second), time.Minute, 10); len(again) != 0 {
			t.Fatalf("Claim during the lease = %v, want none", idsOf(again, messageID))
		}

		sent, retry := got[0], got[1]
		sent.Sent(t0.Add(time.Second))
		retry.Failed(fmt.Errorf("421 try later"), true, domain.RetryPolicy{MaxAttempts: 3, Base: time.Hour, Max: time.Hour}, t0.Add(time.Second))
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			if err := st.Outbox().Save(ctx, sent); err != nil {
				return err
			}
			return st.Outbox().Save(ctx, retry)
		})
		for _, m := range []domain.OutboxMessage{sent, retry} {
			if got := getMessage(t, uow, ws.ID(), m.Message.ID()); outboxView(got) != outboxView(m) {
				t.Errorf("after Save: %s\nwant %s", outboxView(got), outboxView(m))
			}
		}
		// Save released the lease: the retry is claimed as soon as it is
		// due, although the first lease has not run out.
		if ids := idsOf(claim(t, uow, retry.NextAttemptAt.Add(-time.Microsecond), time.Hour, 10), messageID); len(ids) != 0 {
			t.Fatalf("Claim before the retry is due = %v, want none", ids)
		}
		retryAt := retry.NextAttemptAt
		if ids := idsOf(claim(t, uow, retryAt, time.Hour, 10), messageID); !slices.Equal(ids, []string{retry.Message.ID()}) {
			t.Fatalf("Claim when the retry is due = %v, want %s", ids, retry.Message.ID())
		}

		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Outbox().Save(ctx, newOutboxMessage(t, ws.ID(), "", "x@example.com"))
		})
		wantErr(t, "Save(unknown)", err, domain.ErrNotFound)
	})
	t.Run("ExpiredLeaseIsClaimedAgain", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		m := addMessage(t, uow, ws.ID(), "", "a@example.com", func(*domain.OutboxMessage) {})
		if got := claim(t, uow, t0, time.Minute, 1); len(got) != 1 {
			t.Fatalf("first Claim = %d messages, want 1", len(got))
		}
		if got := claim(t, uow, t0.Add(time.Minute-time.Microsecond), time.Minute, 1); len(got) != 0 {
			t.Fatalf("Claim just before the lease ends = %d messages, want 0", len(got))
		}
		got := claim(t, uow, t0.Add(time.Minute), time.Minute, 1)
		if ids := idsOf(got, messageID); !slices.Equal(ids, []string{m.Message.ID()}) {
			t.Fatalf("Claim once the lease ended = %v, want %s", ids, m.Message.ID())
		}
	})
	t.Run("ClaimHonoursLimit", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		var all []domain.OutboxMessage
		for i := range 5 {
			all = append(all, addMessage(t, uow, ws.ID(), "", fmt.Sprintf("u%d@example.com", i), func(m *domain.OutboxMessage) {
				m.NextAttemptAt = domain.Timestamp(t0.Add(-time.Duration(i) * time.Second)) // the last added is due first
			}))
		}
		got := claim(t, uow, t0, time.Minute, 2)
		if ids, want := idsOf(got, messageID), []string{all[4].Message.ID(), all[3].Message.ID()}; !slices.Equal(ids, want) {
			t.Fatalf("Claim(limit 2) = %v, want %v", ids, want)
		}
		if got := claim(t, uow, t0, time.Minute, 0); len(got) != 0 {
			t.Fatalf("Claim(limit 0) = %d messages", len(got))
		}
		if got := claim(t, uow, t0, time.Minute, 10); len(got) != 3 {
			t.Fatalf("Claim(rest) = %d messages, want 3", len(got))
		}
	})
	t.Run("AttemptsRoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		m := addMessage(t, uow, ws.ID(), "", "a@example.com", func(*domain.OutboxMessage) {})
		p := domain.RetryPolicy{MaxAttempts: 3, Base: time.Second, Max: time.Second}
		for i, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(time.Hour)} {
			claim(t, uow, at, time.Second, 1)
			m.Failed(fmt.Errorf("attempt %d: 451 \"greylisted\"\n<é>", i+1), true, p, at)
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Outbox().Save(ctx, m) })
		}
		if m.Status != domain.OutboxDead || len(m.Attempts) != 3 {
			t.Fatalf("domain: status %s after %d attempts", m.Status, len(m.Attempts))
		}
		if got := getMessage(t, uow, ws.ID(), m.Message.ID()); outboxView(got) != outboxView(m) {
			t.Fatalf("after three failures: %s\nwant %s", outboxView(got), outboxView(m))
		}
		if got := claim(t, uow, t0.Add(48*time.Hour), time.Second, 10); len(got) != 0 {
			t.Fatalf("Claim of a dead message = %d messages", len(got))
		}
		if err := m.Retry(t0.Add(48 * time.Hour)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Outbox().Save(ctx, m) })
		if got := claim(t, uow, t0.Add(48*time.Hour), time.Second, 10); len(got) != 1 || len(got[0].Attempts) != 3 {
			t.Fatalf("Claim after Retry = %d messages, want 1 with its 3 attempts", len(got))
		}
	})
	t.Run("AttachmentsRoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		files := []domain.MessageAttachment{
			{Name: "Jürgen 履歴書.pdf", ContentType: "application/pdf", Size: 1 << 20, Key: "submissions/" + string(ws.ID()) + "/sub_x/1"},
			{Name: `a "quoted", name.txt`, ContentType: "text/plain; charset=utf-8", Size: 3, Key: "submissions/" + string(ws.ID()) + "/sub_x/2"},
		}
		with := addMessage(t, uow, ws.ID(), "", "a@example.com", func(m *domain.OutboxMessage) { m.Message = m.Message.WithAttachments(files) })
		without := addMessage(t, uow, ws.ID(), "", "b@example.com", func(*domain.OutboxMessage) {})
		for _, m := range []domain.OutboxMessage{with, without} {
			if got := getMessage(t, uow, ws.ID(), m.Message.ID()); outboxView(got) != outboxView(m) {
				t.Fatalf("Get = %s\nwant %s", outboxView(got), outboxView(m))
			}
		}
		if got := getMessage(t, uow, ws.ID(), without.Message.ID()); got.Message.Attachments() != nil {
			t.Errorf("a message without files reads back %+v", got.Message.Attachments())
		}
		claimed := claim(t, uow, t0, time.Minute, 10)
		if len(claimed) != 2 {
			t.Fatalf("Claim = %d messages, want 2", len(claimed))
		}
		for _, c := range claimed {
			if c.Message.ID() == with.Message.ID() && !slices.Equal(c.Message.Attachments(), files) {
				t.Errorf("claimed attachments = %+v", c.Message.Attachments())
			}
		}
		with.Sent(t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Outbox().Save(ctx, with) })
		if got := getMessage(t, uow, ws.ID(), with.Message.ID()); !slices.Equal(got.Message.Attachments(), files) {
			t.Errorf("after Save, attachments = %+v", got.Message.Attachments())
		}
	})
	t.Run("DeletePendingTo", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		f := addForm(t, uow, ws.ID(), fullForm())
		sub := addSubmission(t, uow, accept(t, f, t0, "email", "Bob@Example.com", "agree", "on"))
		queued := queueMail(t, uow, f, sub) // Reply-To and To the submitter
		named := addMessage(t, uow, ws.ID(), "", "Bob Builder <BOB@example.com>", func(*domain.OutboxMessage) {})
		failed := addMessage(t, uow, ws.ID(), "", "bob@example.com", func(m *domain.OutboxMessage) { m.Status = domain.OutboxFailed })
		dead := addMessage(t, uow, ws.ID(), "", "bob@example.com", func(m *domain.OutboxMessage) { m.Status = domain.OutboxDead })
		sent := addMessage(t, uow, ws.ID(), "", "bob@example.com", func(m *domain.OutboxMessage) {
			m.Sent(t0)
		})
		longer := addMessage(t, uow, ws.ID(), "", "xbob@example.com", func(*domain.OutboxMessage) {})
		theirs := addMessage(t, uow, other.ID(), "", "bob@example.com", func(*domain.OutboxMessage) {})
		var n int
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			n, err = st.Outbox().DeletePendingTo(ctx, ws.ID(), "bob@example.com")
			return err
		})
		gone := append(queued, named, failed, dead)
		if n != len(gone) {
			t.Errorf("DeletePendingTo = %d, want %d", n, len(gone))
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, m := range gone {
				_, err := st.Outbox().Get(ctx, ws.ID(), m.Message.ID())
				wantErr(t, "Get(deleted "+m.Kind+" "+m.Status.String()+")", err, domain.ErrNotFound)
			}
			for _, m := range []domain.OutboxMessage{sent, longer, theirs} {
				if _, err := st.Outbox().Get(ctx, m.Workspace, m.Message.ID()); err != nil {
					t.Errorf("message to %v (%s): %v", m.Message.To(), m.Status, err)
				}
			}
			return nil
		})
	})
	t.Run("DeleteSentBefore", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		sentAt := func(at time.Time) func(*domain.OutboxMessage) { return func(m *domain.OutboxMessage) { m.Sent(at) } }
		// Three messages sent an hour after they were due, in two
		// workspaces, go; so does none of the rest.
		old := []domain.OutboxMessage{
			addMessage(t, uow, ws.ID(), "", "a@example.com", sentAt(t0.Add(time.Hour))),
			addMessage(t, uow, ws.ID(), "", "b@example.com", sentAt(t0.Add(time.Hour))),
			addMessage(t, uow, other.ID(), "", "c@example.com", sentAt(t0.Add(2*time.Hour))),
		}
		kept := []domain.OutboxMessage{
			// Due long before the cutoff but sent after it: sent_at decides.
			addMessage(t, uow, ws.ID(), "", "late@example.com", sentAt(t0.Add(5*time.Hour))),
			// Sent exactly at the cutoff: not before it.
			addMessage(t, uow, ws.ID(), "", "edge@example.com", sentAt(t0.Add(4*time.Hour))),
			addMessage(t, uow, ws.ID(), "", "pending@example.com", func(*domain.OutboxMessage) {}),
			addMessage(t, uow, ws.ID(), "", "failed@example.com", func(m *domain.OutboxMessage) { m.Status = domain.OutboxFailed }),
			addMessage(t, uow, ws.ID(), "", "dead@example.com", func(m *domain.OutboxMessage) { m.Status = domain.OutboxDead }),
		}
		cutoff := t0.Add(4 * time.Hour)
		for i, want := range []int{2, 1, 0} {
			var n int
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				n, err = st.Outbox().DeleteSentBefore(ctx, cutoff, 2)
				return err
			})
			if n != want {
				t.Fatalf("DeleteSentBefore(limit 2) call %d = %d, want %d", i+1, n, want)
			}
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, m := range old {
				_, err := st.Outbox().Get(ctx, m.Workspace, m.Message.ID())
				wantErr(t, "Get(old sent message)", err, domain.ErrNotFound)
			}
			for _, m := range kept {
				if _, err := st.Outbox().Get(ctx, m.Workspace, m.Message.ID()); err != nil {
					t.Errorf("message to %v (%s) after DeleteSentBefore: %v", m.Message.To()[0].Address, m.Status, err)
				}
			}
			n, err := st.Outbox().DeleteSentBefore(ctx, cutoff, 0)
			if n != 0 || err != nil {
				t.Errorf("DeleteSentBefore(limit 0) = %d, %v; want 0, nil", n, err)
			}
			return nil
		})
	})
	t.Run("ConcurrentPrunersShareTheWork", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		const messages, pruners = 300, 4
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for i := range messages {
				m := newOutboxMessage(t, ws.ID(), "", fmt.Sprintf("u%d@example.com", i))
				m.Sent(t0)
				if err := st.Outbox().Add(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		// Every pruner deletes small batches until it finds none left to
		// take; together they delete each message once, and none fails
		// on another's locks.
		var deleted atomic.Int64
		var wg sync.WaitGroup
		for range pruners {
			wg.Go(func() {
				for {
					var n int
					err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
						n, err = st.Outbox().DeleteSentBefore(ctx, t0.Add(time.Hour), 7) // a rerun replaces, not adds
						return err
					})
					if err != nil {
						t.Errorf("DeleteSentBefore: %v", err)
						return
					}
					if n == 0 {
						return
					}
					deleted.Add(int64(n))
				}
			})
		}
		wg.Wait()
		var rest int
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			rest, err = st.Outbox().DeleteSentBefore(ctx, t0.Add(time.Hour), messages)
			return err
		})
		if got := deleted.Load() + int64(rest); got != messages {
			t.Errorf("pruners deleted %d messages and %d were left, want %d in all", deleted.Load(), rest, messages)
		}
	})
	t.Run("ConcurrentDispatchersClaimEachMessageOnce", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		const messages, dispatchers = 200, 8
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for i := range messages {
				m := newOutboxMessage(t, ws.ID(), "", fmt.Sprintf("u%d@example.com", i))
				if err := st.Outbox().Add(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		seen := claimConcurrently(t, uow, "message", dispatchers, func(ctx context.Context, st ports.Stores) ([]string, error) {
			ms, err := st.Outbox().Claim(ctx, t0.Add(time.Minute), time.Hour, 7)
			return idsOf(ms, messageID), err
		})
		if len(seen) != messages {
			t.Errorf("%d messages claimed, want %d", len(seen), messages)
		}
		if rest := claim(t, uow, t0.Add(time.Minute), time.Hour, messages); len(rest) != 0 {
			t.Errorf("Claim after the dispatchers = %d messages, want 0", len(rest))
		}
	})
}

// fullForm uses every option of a definition, pointers at zero included.
func fullForm() domain.FormInput {
	zero, short, long := 0, 2, 254
	low, high := -1.5, 130.25
	return domain.FormInput{
		Name: "Contact", Status: "open",
		Fields: []domain.Field{
			{Name: "email", Label: "E-mail", Type: domain.FieldEmail, Required: true, MaxLength: &long},
			{Name: "name", Label: "Your name", Type: domain.FieldText, MinLength: &zero, MaxLength: &long, Pattern: `[A-Za-z ]+`},
			{Name: "message", Label: "Message", Type: domain.FieldTextarea, MinLength: &short},
			{Name: "age", Type: domain.FieldNumber, Min: &low, Max: &high},
			{Name: "site", Type: domain.FieldURL},
			{Name: "phone", Type: domain.FieldTel},
			{Name: "date", Type: domain.FieldDate},
			{Name: "topic", Type: domain.FieldSelect, Options: []string{"a", "b"}},
			{Name: "tags", Type: domain.FieldMultiselect, Options: []string{"x", "y", "z"}},
			{Name: "agree", Label: "I agree", Type: domain.FieldCheckbox, Required: true},
			{Name: "ref", Type: domain.FieldHidden},
		},
		Notify: domain.Notify{Recipients: []string{"team@example.com", "ops@example.com"}, Subject: `New {{.FormName}}: {{index .Fields "name"}}`, AttachFilesMaxBytes: 5 << 20},
		Autoresponder: domain.Autoresponder{
			Enabled: true, EmailField: "email", Subject: `Thanks, {{index .Fields "name"}}`,
			Text: `Hello {{index .Fields "name"}} & co`, HTML: `<p>Hello {{index .Fields "name"}} &amp; co</p>`,
		},
		Redirects:      domain.Redirects{Success: "https://example.com/thanks?x=1&y=2", Error: "https://example.com/oops"},
		AllowedOrigins: []string{"https://example.com", "http://localhost:8080", "*"},
		Honeypot:       "website",
		RetentionDays:  90,
	}
}

func simpleForm(name string) domain.FormInput {
	return domain.FormInput{Name: name, Fields: []domain.Field{{Name: "email", Type: domain.FieldEmail}}}
}

func mustForm(t *testing.T, ws domain.WorkspaceID, in domain.FormInput) domain.Form {
	t.Helper()
	f, err := domain.NewForm(ws, in, t0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func addForm(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, in domain.FormInput) domain.Form {
	t.Helper()
	f := mustForm(t, ws, in)
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Forms().Add(ctx, f) })
	return f
}

func getForm(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, id domain.FormID) (f domain.Form) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		f, err = st.Forms().Get(ctx, ws, id)
		return err
	})
	return f
}

// rawOf builds a raw submission from name, value pairs; a name may repeat.
func rawOf(kv ...string) domain.RawSubmission {
	raw := domain.RawSubmission{Fields: map[string][]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		if _, seen := raw.Fields[kv[i]]; !seen {
			raw.Order = append(raw.Order, kv[i])
		}
		raw.Fields[kv[i]] = append(raw.Fields[kv[i]], kv[i+1])
	}
	return raw
}

func accept(t *testing.T, f domain.Form, at time.Time, kv ...string) domain.Submission {
	t.Helper()
	s, err := f.Accept(rawOf(kv...), domain.SubmissionMeta{IPHash: "h", UserAgent: "test"}, domain.SpamRules{}, at)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func addSubmission(t *testing.T, uow ports.UnitOfWork, s domain.Submission) domain.Submission {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Submissions().Add(ctx, s) })
	return s
}

func getSubmission(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, id domain.SubmissionID) (s domain.Submission) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		s, err = st.Submissions().Get(ctx, ws, id)
		return err
	})
	return s
}

const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// queueMail queues the mail a submission causes, as the use case does.
func queueMail(t *testing.T, uow ports.UnitOfWork, f domain.Form, s domain.Submission) []domain.OutboxMessage {
	t.Helper()
	msgs, kinds, err := f.Mail(s, `"Keel, Forms" <noreply@keel.test>`, s.CreatedAt())
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 {
		t.Fatal("the submission causes no mail")
	}
	var out []domain.OutboxMessage
	run(t, uow, func(ctx context.Context, st ports.Stores) error {
		for i, m := range msgs {
			o := domain.NewOutboxMessage(m, f.Workspace(), s.ID(), kinds[i], traceParent, s.CreatedAt())
			if err := st.Outbox().Add(ctx, o); err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	return out
}

func newOutboxMessage(t *testing.T, ws domain.WorkspaceID, sub domain.SubmissionID, to string) domain.OutboxMessage {
	t.Helper()
	m, err := domain.NewMessage(domain.MessageInput{
		From: "Keel <noreply@keel.test>", To: []string{to, "copy@example.com"}, Subject: "Hello", Text: "Hi.", HTML: "<p>Hi.</p>",
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return domain.NewOutboxMessage(m, ws, sub, domain.KindNotification, "", t0)
}

// addMessage queues a message to to, changed by edit before it is added.
func addMessage(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, sub domain.SubmissionID, to string, edit func(*domain.OutboxMessage)) domain.OutboxMessage {
	t.Helper()
	m := newOutboxMessage(t, ws, sub, to)
	edit(&m)
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Outbox().Add(ctx, m) })
	return m
}

func getMessage(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, id string) (m domain.OutboxMessage) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		m, err = st.Outbox().Get(ctx, ws, id)
		return err
	})
	return m
}

func claim(t *testing.T, uow ports.UnitOfWork, now time.Time, lease time.Duration, limit int) (ms []domain.OutboxMessage) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		ms, err = st.Outbox().Claim(ctx, now, lease, limit)
		return err
	})
	return ms
}

func messageID(m domain.OutboxMessage) string { return m.Message.ID() }

func intPtr(p *int) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func floatPtr(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// defView prints a definition field by field, limits dereferenced, so that
// a nil limit and a zero one differ.
func defView(in domain.FormInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name=%q status=%q retention=%d honeypot=%q origins=%q\n", in.Name, in.Status, in.RetentionDays, in.Honeypot, in.AllowedOrigins)
	fmt.Fprintf(&b, "notify=%q %q attach=%d\n", in.Notify.Recipients, in.Notify.Subject, in.Notify.AttachFilesMaxBytes)
	fmt.Fprintf(&b, "autoresponder=%+v\n", in.Autoresponder)
	fmt.Fprintf(&b, "redirects=%+v max_links=%s\n", in.Redirects, intPtr(in.MaxLinks))
	for _, f := range in.Fields {
		fmt.Fprintf(&b, "field %q %q %s required=%v len=%s..%s range=%s..%s pattern=%q options=%q\n", f.Name, f.Label, f.Type, f.Required,
			intPtr(f.MinLength), intPtr(f.MaxLength), floatPtr(f.Min), floatPtr(f.Max), f.Pattern, f.Options)
	}
	return b.String()
}

func formView(f domain.Form) string {
	return fmt.Sprintf("{%s %s %q %s %s %s}\n%s", f.ID(), f.Workspace(), f.Name(), f.Status(), stamp(f.CreatedAt()), stamp(f.UpdatedAt()), defView(f.Definition()))
}

func submissionView(s domain.Submission) string {
	values := idsOf(s.Values(), func(v domain.Value) string { return fmt.Sprintf("%q=%q list=%v", v.Field, v.Values, v.List) })
	return fmt.Sprintf("{%s %s %s %s %s %+v %s %s held=%v spam=%q/%q ignored=%q}", s.ID(), s.Form(), s.Workspace(), s.Status(), values, s.Meta(), stamp(s.CreatedAt()), stamp(s.UpdatedAt()), s.MailHeld(),
		s.SpamReason().Cause, s.SpamReason().Detail, s.IgnoredField())
}

func outboxView(o domain.OutboxMessage) string {
	m := o.Message
	to := idsOf(m.To(), func(a mail.Address) string { return (&a).String() })
	replyTo := "none"
	if a, ok := m.ReplyTo(); ok {
		replyTo = a.String()
	}
	attempts := idsOf(o.Attempts, func(a domain.Attempt) string { return stamp(a.At) + " " + fmt.Sprintf("%q", a.Error) })
	from := m.From()
	return fmt.Sprintf("{%s ws=%s sub=%s %s %s from=%s to=%q reply=%s subj=%q text=%q html=%q created=%s attempts=%q next=%s trace=%s queued=%s sent=%s files=%+v}",
		m.ID(), o.Workspace, o.Submission, o.Kind, o.Status, from.String(), to, replyTo, m.Subject(), m.Text(), m.HTML(), stamp(m.CreatedAt()),
		attempts, stamp(o.NextAttemptAt), o.TraceParent, stamp(o.CreatedAt), stampPtr(o.SentAt), m.Attachments())
}

// claimConcurrently runs claim, each time in a transaction of its own, on
// workers goroutines until it claims nothing, and returns which worker
// claimed each ID. It fails the test when two workers claim one ID: the
// guarantee behind FOR UPDATE SKIP LOCKED (or SQLite's single writer).
func claimConcurrently(t *testing.T, uow ports.UnitOfWork, what string, workers int, claim func(context.Context, ports.Stores) ([]string, error)) map[string]int {
	t.Helper()
	claimed := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				var ids []string
				err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
					ids, err = claim(ctx, st) // a rerun replaces, not adds
					return err
				})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				if len(ids) == 0 {
					return
				}
				claimed[w] = append(claimed[w], ids...)
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for w, ids := range claimed {
		for _, id := range ids {
			if prev, dup := seen[id]; dup {
				t.Errorf("%s %s claimed by workers %d and %d", what, id, prev, w)
			}
			seen[id] = w
		}
	}
	return seen
}

// refViews shows refs for comparison.
func refViews(refs []domain.SubmissionRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = fmt.Sprintf("{%s ws=%s form=%s at=%s spam=%t}", r.ID, r.Workspace, r.Form, stamp(r.CreatedAt), r.Spam)
	}
	return out
}
