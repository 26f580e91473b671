package content

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Import brings another platform's export into a workspace: authors,
// then tags, then entries in batches, each step one use case with its
// own transaction. It needs domain.PermContentImport (admins and owners)
// as well as content:write, since it publishes entries at past dates.
//
// It is idempotent: an entry records its source ID, and an item whose
// source the workspace has is left as it is, even if the export or the
// entry changed since; an author with a profile keeps it, and a tag that
// exists keeps its name and description. So a second run of the same
// export changes nothing.
type Import struct {
	s      *Service
	p      domain.Principal
	ws     domain.Workspace
	dryRun bool
	// authors maps an export's author keys to the members they are.
	authors map[string]domain.UserID
	// slugs are the slugs this import gave, by kind, so that two items
	// of one export that share a slug are not both written.
	slugs map[domain.EntryKind]map[string]bool
	// profiled are the members known to have an author profile, which
	// EnsureAuthor need not look up again.
	profiled map[domain.UserID]bool
}

// ImportCounts says what a batch of entries did.
type ImportCounts struct {
	Created   int // new entries (or, in a dry run, entries that would be)
	Unchanged int // imported before: left as they are
	Skipped   int // not imported; each has a note
}

// ImportBatchSize is the most entries ImportEntries takes at once: one
// transaction each, and at most ports.MaxPageLimit source IDs to look up.
const ImportBatchSize = 100

// StartImport authorizes p to import into the workspace and returns the
// import. With dryRun, every step reads and checks as usual and writes
// nothing.
func (s *Service) StartImport(ctx context.Context, p domain.Principal, wsRef string, dryRun bool) (_ *Import, err error) {
	ctx, end := usecase.Start(ctx, "content.StartImport")
	defer end(&err)
	var w domain.Workspace
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		var err error
		w, err = s.importWorkspace(ctx, st, p, wsRef)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Import{s: s, p: p, ws: w, dryRun: dryRun, authors: map[string]domain.UserID{}, profiled: map[domain.UserID]bool{},
		slugs: map[domain.EntryKind]map[string]bool{domain.KindPost: {}, domain.KindPage: {}}}, nil
}

// importWorkspace resolves the workspace and checks both permissions an
// import needs.
func (s *Service) importWorkspace(ctx context.Context, st ports.Stores, p domain.Principal, wsRef string) (domain.Workspace, error) {
	w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentWrite)
	if err != nil {
		return domain.Workspace{}, err
	}
	err = s.authz.Authorize(ctx, p, w.ID(), domain.PermContentImport)
	if errors.Is(err, domain.ErrForbidden) {
		return domain.Workspace{}, errImportForbidden
	}
	if err != nil {
		return domain.Workspace{}, err
	}
	return w, nil
}

// errImportForbidden says which permission an import lacks.
var errImportForbidden = domain.ErrForbidden.WithMessage("Importing needs the content:import permission, which admins and owners have.")

// Workspace is the workspace imported into.
func (im *Import) Workspace() domain.Workspace { return im.ws }

// ImportAuthors maps the export's authors to the workspace's members by
// e-mail address, and gives each member who has no public profile yet
// the one the export has. An author who is no member is noted: their
// entries are written as the importing user's.
func (im *Import) ImportAuthors(ctx context.Context, authors []domain.ImportedAuthor) (notes []domain.ImportNote, err error) {
	ctx, end := usecase.Start(ctx, "content.ImportAuthors")
	defer end(&err)
	note := func(a domain.ImportedAuthor, reason string) {
		notes = append(notes, domain.ImportNote{Item: fmt.Sprintf("author %q", a.Name), Reason: reason})
	}
	write := func(ctx context.Context, st ports.Stores) error {
		notes = notes[:0]
		if _, err := im.s.importWorkspace(ctx, st, im.p, im.ws.ID().String()); err != nil {
			return err
		}
		for _, a := range authors {
			email, err := domain.ParseEmail("email", a.Email)
			if err != nil {
				note(a, "their posts are the importing user's: the export gives no usable e-mail address")
				continue
			}
			u, err := st.Users().GetByEmail(ctx, email)
			if domain.KindOf(err) == domain.KindNotFound {
				note(a, fmt.Sprintf("their posts are the importing user's: no member of the workspace has the address %s (add them before importing to make the posts theirs)", email))
				continue
			}
			if err != nil {
				return fmt.Errorf("find author %s: %w", email, err)
			}
			if _, err := st.Memberships().Get(ctx, im.ws.ID(), u.ID()); domain.KindOf(err) == domain.KindNotFound {
				note(a, fmt.Sprintf("their posts are the importing user's: %s is not a member of the workspace", email))
				continue
			} else if err != nil {
				return fmt.Errorf("membership of %s: %w", email, err)
			}
			im.authors[a.Key] = u.ID()
			if reason, err := im.putProfile(ctx, st, u.ID(), a); err != nil {
				return err
			} else if reason != "" {
				note(a, reason)
			}
		}
		return nil
	}
	if im.dryRun {
		return notes, im.s.uow.ReadOnly(ctx, write)
	}
	return notes, im.s.uow.WithinTx(ctx, write)
}

// putProfile gives the member the export's profile when they have none,
// and reports why it could not; a profile already there is left alone.
func (im *Import) putProfile(ctx context.Context, st ports.Stores, user domain.UserID, a domain.ImportedAuthor) (string, error) {
	if _, err := st.Authors().Get(ctx, im.ws.ID(), user); domain.KindOf(err) != domain.KindNotFound {
		return "", err
	}
	slug, _ := domain.ImportSlug(a.Slug, a.Name)
	profile := domain.AuthorProfile{Name: a.Name, Slug: slug, Bio: a.Bio, AvatarURL: a.AvatarURL, WebsiteURL: a.WebsiteURL}
	if len([]rune(profile.Bio)) > domain.MaxAuthorBioLen {
		profile.Bio = string([]rune(profile.Bio)[:domain.MaxAuthorBioLen])
	}
	author, err := domain.NewAuthor(im.ws.ID(), user, profile, im.s.now())
	if err != nil {
		// An avatar on a relative path, a name too long: keep the rest.
		profile.AvatarURL, profile.WebsiteURL = "", ""
		if author, err = domain.NewAuthor(im.ws.ID(), user, profile, im.s.now()); err != nil {
			return "no profile made: " + describeInvalid(err), nil
		}
	}
	taken := fmt.Sprintf("no profile made: another author uses the slug %q", author.Slug())
	if im.dryRun {
		if _, err := st.Authors().BySlug(ctx, im.ws.ID(), author.Slug()); domain.KindOf(err) != domain.KindNotFound {
			if err != nil {
				return "", err
			}
			return taken, nil
		}
		return "", nil
	}
	added, err := st.Authors().Add(ctx, author)
	if err != nil || added {
		return "", err
	}
	// The member's first entry may have given them a profile meanwhile.
	if _, err := st.Authors().Get(ctx, im.ws.ID(), user); domain.KindOf(err) != domain.KindNotFound {
		return "", err
	}
	return taken, nil
}

// ImportTags adds the export's tags that the workspace does not have, with
// their descriptions; tags it has keep theirs.
func (im *Import) ImportTags(ctx context.Context, tags []domain.ImportedTag) (notes []domain.ImportNote, err error) {
	ctx, end := usecase.Start(ctx, "content.ImportTags")
	defer end(&err)
	write := func(ctx context.Context, st ports.Stores) error {
		notes = notes[:0]
		if _, err := im.s.importWorkspace(ctx, st, im.p, im.ws.ID().String()); err != nil {
			return err
		}
		for _, in := range tags {
			t, err := domain.NewTag(im.ws.ID(), in.Name, in.Description)
			if err != nil {
				// A description over the limit: the name is what matters.
				if t, err = domain.NewTag(im.ws.ID(), in.Name, ""); err != nil {
					notes = append(notes, domain.ImportNote{Item: fmt.Sprintf("tag %q", in.Name), Reason: "not imported: " + describeInvalid(err)})
					continue
				}
				notes = append(notes, domain.ImportNote{Item: fmt.Sprintf("tag %q", in.Name), Reason: "imported without its description, over 500 characters"})
			}
			if _, err := st.Tags().Get(ctx, im.ws.ID(), t.Slug); domain.KindOf(err) != domain.KindNotFound {
				if err != nil {
					return err
				}
				continue
			}
			if im.dryRun {
				continue
			}
			if err := st.Tags().Put(ctx, t, im.s.now()); err != nil {
				return fmt.Errorf("add tag %q: %w", t.Slug, err)
			}
		}
		return nil
	}
	if im.dryRun {
		return notes, im.s.uow.ReadOnly(ctx, write)
	}
	return notes, im.s.uow.WithinTx(ctx, write)
}

// pending is an item of a batch on its way to being an entry.
type pending struct {
	in   domain.ImportedEntry
	item string
	e    domain.Entry
}

// ImportEntries writes a batch of at most ImportBatchSize items as
// entries in one transaction: drafts, scheduled entries, and entries
// published at their original dates (each audited as entry.imported and
// announced by its published event, as any publication is). Bodies are
// rendered before the transaction. Items imported before are counted
// unchanged; items that cannot be entries (a slug another entry has, a
// body over its limit) are skipped with a note, and fields over their
// limits are made to fit (fit).
func (im *Import) ImportEntries(ctx context.Context, batch []domain.ImportedEntry) (_ ImportCounts, notes []domain.ImportNote, err error) {
	ctx, end := usecase.Start(ctx, "content.ImportEntries")
	defer end(&err)
	var counts ImportCounts
	if len(batch) > ImportBatchSize {
		return counts, nil, fmt.Errorf("import %d entries at once, more than %d", len(batch), ImportBatchSize)
	}
	skip := func(item, reason string) {
		counts.Skipped++
		notes = append(notes, domain.ImportNote{Item: item, Reason: reason})
	}

	// What is new, read first: the renderer runs only for it.
	sources := make([]string, 0, len(batch))
	for _, in := range batch {
		sources = append(sources, in.Source)
	}
	var done map[string]domain.EntryID
	err = im.s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		if _, err := im.s.importWorkspace(ctx, st, im.p, im.ws.ID().String()); err != nil {
			return err
		}
		var err error
		done, err = st.Imports().Imported(ctx, im.ws.ID(), sources)
		return err
	})
	if err != nil {
		return counts, nil, err
	}
	var todo []pending
	seen := map[string]bool{}
	for _, in := range batch {
		item := fmt.Sprintf("%s %q (%s)", in.Kind, clip(in.Title, 80), clip(in.Source, 100))
		switch {
		case done[in.Source] != "" || seen[in.Source]:
			counts.Unchanged++
			continue
		case in.Source == "" || len(in.Source) > domain.MaxImportSourceLen:
			skip(item, "skipped: its source ID is empty or too long")
			continue
		}
		seen[in.Source] = true
		if len(in.Body) > domain.MaxBodyBytes {
			// Refused before rendering it, which would be work lost.
			skip(item, fmt.Sprintf("skipped: its body is %d bytes of Markdown, over the limit of %d", len(in.Body), domain.MaxBodyBytes))
			continue
		}
		slug, changed := domain.ImportSlug(in.Slug, in.Title)
		if changed {
			notes = append(notes, domain.ImportNote{Item: item, Reason: fmt.Sprintf("its slug %q is not a Keel slug: it is %q here, so its URL changes", in.Slug, slug)})
		}
		in.Slug = slug
		in = fit(in, func(reason string) { notes = append(notes, domain.ImportNote{Item: item, Reason: reason}) })
		author := im.p.User()
		for _, key := range in.Authors[:min(1, len(in.Authors))] {
			if u, ok := im.authors[key]; ok {
				author = u
			}
		}
		e, err := domain.NewImportedEntry(im.ws.ID(), author, in, im.s.render.Render(in.Body), im.s.now())
		if err != nil {
			skip(item, "skipped: "+describeInvalid(err))
			continue
		}
		todo = append(todo, pending{in: in, item: item, e: e})
	}
	if len(todo) == 0 {
		return counts, notes, nil
	}

	// profiled are the members this transaction gave a profile; they
	// count once it commits.
	var profiled map[domain.UserID]bool
	write := func(ctx context.Context, st ports.Stores) error {
		var published bool
		profiled = map[domain.UserID]bool{}
		if _, err := im.s.importWorkspace(ctx, st, im.p, im.ws.ID().String()); err != nil {
			return err
		}
		// Taken slugs are found first: a failed INSERT would abort a
		// PostgreSQL transaction.
		slugs := map[domain.EntryKind][]string{}
		for _, t := range todo {
			slugs[t.e.Kind()] = append(slugs[t.e.Kind()], t.e.Slug())
		}
		taken := map[domain.EntryKind]map[string]bool{}
		for kind, ss := range slugs {
			var err error
			if taken[kind], err = st.Imports().SlugsTaken(ctx, im.ws.ID(), kind, ss); err != nil {
				return err
			}
		}
		again, err := st.Imports().Imported(ctx, im.ws.ID(), sources)
		if err != nil {
			return err
		}
		for _, t := range todo {
			e := t.e
			if again[t.in.Source] != "" { // another import got here first
				counts.Unchanged++
				continue
			}
			if taken[e.Kind()][e.Slug()] || im.slugs[e.Kind()][e.Slug()] {
				skip(t.item, fmt.Sprintf("skipped: another %s of the workspace has the slug %q", e.Kind(), e.Slug()))
				continue
			}
			im.slugs[e.Kind()][e.Slug()] = true
			counts.Created++
			if im.dryRun {
				continue
			}
			// Every entry's author has a profile, as CreateEntry makes
			// sure; a member the export had a profile for got it above.
			if !im.profiled[e.Author()] && !profiled[e.Author()] {
				if _, err := im.s.EnsureAuthor(ctx, st, im.ws.ID(), e.Author()); err != nil {
					return fmt.Errorf("author of %s: %w", t.in.Source, err)
				}
				profiled[e.Author()] = true
			}
			if err := st.Entries().Add(ctx, e); err != nil {
				return fmt.Errorf("import %s: %w", t.in.Source, err)
			}
			if err := st.Imports().Add(ctx, im.ws.ID(), t.in.Source, e.ID(), im.s.now()); err != nil {
				return fmt.Errorf("import %s: %w", t.in.Source, err)
			}
			if err := addRevision(ctx, st, e, im.p); err != nil {
				return err
			}
			details := map[string]string{"source": t.in.Source, "status": e.Status().String()}
			if at := e.PublishedAt(); at != nil {
				details["published_at"] = at.Format(time.RFC3339)
			}
			if err := im.s.audit(ctx, st, im.p, im.ws.ID(), "entry.imported", e.ID().String(), details); err != nil {
				return err
			}
			if e.IsPublished() {
				published = true
				if err := st.Events().Add(ctx, domain.EntryEvent(e, true, im.s.now())); err != nil {
					return fmt.Errorf("queue event: %w", err)
				}
			}
		}
		if published {
			return publicChange(ctx, st)
		}
		return nil
	}
	// The transaction may run again (a serialization failure): the
	// counts and notes it makes start over, and so do the slugs it took.
	base, baseNotes := counts, len(notes)
	taken := cloneSlugs(im.slugs)
	run := func(ctx context.Context, st ports.Stores) error {
		counts, notes, im.slugs = base, notes[:baseNotes], cloneSlugs(taken)
		return write(ctx, st)
	}
	if im.dryRun {
		err = im.s.uow.ReadOnly(ctx, run)
	} else {
		err = im.s.uow.WithinTx(ctx, run)
	}
	if err != nil {
		im.slugs = taken
		return ImportCounts{}, nil, err
	}
	if !im.dryRun && counts.Created > 0 {
		im.s.changed()
	}
	for u := range profiled {
		im.profiled[u] = true
	}
	return counts, notes, nil
}

// fit makes an item's fields other than its body fit Keel's limits, and
// notes each change, so that one odd tag, a long excerpt or a cover image
// on a relative path does not cost the whole entry.
func fit(in domain.ImportedEntry, note func(string)) domain.ImportedEntry {
	cut := func(s string, n int, what string) string {
		s = strings.TrimSpace(s)
		if utf8.RuneCountInString(s) <= n {
			return s
		}
		note(fmt.Sprintf("its %s is cut to %d characters", what, n))
		return string([]rune(s)[:n])
	}
	if strings.TrimSpace(in.Title) == "" {
		in.Title = "Untitled"
		note(`it has no title: it is called "Untitled"`)
	}
	in.Title = cut(in.Title, domain.MaxTitleLen, "title")
	in.Excerpt = cut(in.Excerpt, domain.MaxExcerptLen, "excerpt")
	in.SEO.Title = cut(in.SEO.Title, domain.MaxSEOTitleLen, "SEO title")
	in.SEO.Description = cut(in.SEO.Description, domain.MaxSEODescLen, "SEO description")
	if u, err := url.Parse(in.CoverImageURL); in.CoverImageURL != "" &&
		(err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.CoverImageURL) > domain.MaxURLLen) {
		note(fmt.Sprintf("its cover image %q is not an absolute http or https URL: it has none", clip(in.CoverImageURL, 100)))
		in.CoverImageURL = ""
	}
	var tags, slugs []string
	for _, name := range in.Tags {
		t, err := domain.NewTag("", name, "")
		switch {
		case err != nil:
			note(fmt.Sprintf("its tag %q is left out: %s", clip(name, 60), describeInvalid(err)))
		case slices.Contains(slugs, t.Slug):
		case len(tags) == domain.MaxTags:
			note(fmt.Sprintf("its tag %q is left out: an entry has at most %d", t.Name, domain.MaxTags))
		default:
			tags, slugs = append(tags, t.Name), append(slugs, t.Slug)
		}
	}
	in.Tags = tags
	return in
}

// clip cuts s to at most n bytes for a note, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func cloneSlugs(m map[domain.EntryKind]map[string]bool) map[domain.EntryKind]map[string]bool {
	out := make(map[domain.EntryKind]map[string]bool, len(m))
	for k, v := range m {
		c := make(map[string]bool, len(v))
		for s := range v {
			c[s] = true
		}
		out[k] = c
	}
	return out
}

// describeInvalid says in one line why the domain refused an item.
func describeInvalid(err error) string {
	var de *domain.Error
	if !errors.As(err, &de) {
		return err.Error()
	}
	if len(de.Fields) == 0 {
		return de.Message
	}
	out := ""
	for i, f := range de.Fields {
		if i > 0 {
			out += "; "
		}
		out += f.Field + ": " + f.Message
	}
	return out
}
