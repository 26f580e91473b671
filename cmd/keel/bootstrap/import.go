package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/markdown"
	"github.com/keelhq/keel/adapters/siteimport"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// importFormat returns the reader of the exports "keel import" reads;
// ghostURL is the old Ghost site's address, for its placeholders.
func importFormat(name, ghostURL string) (func(io.Reader, siteimport.Sink) error, bool) {
	switch name {
	case "ghost":
		return func(r io.Reader, s siteimport.Sink) error { return siteimport.ReadGhostFrom(r, s, ghostURL) }, true
	case "wordpress":
		if ghostURL != "" {
			return nil, false
		}
		return siteimport.ReadWordPress, true
	}
	return nil, false
}

func newImportCommand(getenv func(string) string) *cobra.Command {
	var ws, as, ghostURL string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import {ghost|wordpress} FILE --workspace SLUG",
		Short: "Import posts, pages, tags and authors from a Ghost or WordPress export",
		Long: `Import reads a Ghost JSON export (Settings → Migration → Export content) or
a WordPress WXR file (Tools → Export → All content) and writes its posts and
pages into a workspace: drafts as drafts, published entries at their original
dates, scheduled ones scheduled, with their tags (WordPress's categories too),
excerpts and, from Ghost, cover images and SEO fields. HTML bodies become
Markdown. Authors are matched to the workspace's members by e-mail address;
a member without a public profile gets the export's. Entries by anyone else
are the importing user's.

Whatever cannot be mapped (comments, attachments, menus, trashed posts, an
embed left out of a body, a slug another entry has) is printed, one line each,
with a summary at the end. Running it again changes nothing: each entry keeps
the ID it had in the export, and those already imported are left as they are.
The importing user (--as, by default the workspace's first owner) needs the
content:import permission: admins and owners have it.`,
		Example: `  keel import ghost my-blog.ghost.2026-12-01.json --workspace blog --ghost-url https://blog.example.com --dry-run
  keel import wordpress bakery.WordPress.2026-12-01.xml --workspace bakery --as maren@example.com`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if u, err := url.Parse(ghostURL); ghostURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				return fmt.Errorf("--ghost-url: want the old site's absolute http or https URL, got %q", ghostURL)
			}
			read, ok := importFormat(args[0], ghostURL)
			if !ok && ghostURL != "" && args[0] == "wordpress" {
				return errors.New("--ghost-url is for Ghost exports")
			}
			if !ok {
				return fmt.Errorf("unknown format %q: use ghost or wordpress", args[0])
			}
			if ws == "" {
				return errors.New("--workspace is required")
			}
			return runImport(cmd, getenv, read, args[1], ws, as, dryRun)
		},
	}
	addFlags(cmd.Flags(), sDataDir, sDatabaseURL, sLogLevel)
	cmd.Flags().StringVar(&ws, "workspace", "", "the slug or ID of the workspace to import into (required)")
	cmd.Flags().StringVar(&as, "as", "", "the e-mail address of the member who imports (default: the workspace's first owner)")
	cmd.Flags().StringVar(&ghostURL, "ghost-url", "", "the old Ghost site's URL, such as https://blog.example.com, which Ghost's exports leave out of links and images to itself (default: make them relative)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "read and check everything, print what would be imported, and write nothing")
	return cmd
}

func runImport(cmd *cobra.Command, getenv func(string) string, read func(io.Reader, siteimport.Sink) error, path, wsRef, as string, dryRun bool) error {
	ctx := cmd.Context()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	db, err := openStore(cmd, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return sDatabaseURL.errorf("%v", err)
	}
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		return fmt.Errorf("load the access policy: %w", err)
	}
	defer authz.Close()
	p, err := importer(ctx, db, wsRef, as)
	if err != nil {
		return err
	}
	svc := content.NewService(content.Config{UoW: db, Authorizer: authz, Clock: ports.ClockFunc(time.Now), Renderer: markdown.New()})
	im, err := svc.StartImport(ctx, p, wsRef, dryRun)
	if err != nil {
		return fmt.Errorf("import into %s: %s", wsRef, describe(err))
	}

	bar := newProgress(cmd.ErrOrStderr(), info.Size(), "importing", true)
	sink := &importSink{ctx: ctx, im: im, out: cmd.OutOrStdout(), bar: bar}
	err = read(&countingReader{r: f, add: bar.add}, sink)
	if err == nil {
		err = sink.flush()
	}
	bar.finish()
	if err != nil {
		return fmt.Errorf("import %s: %s", path, describe(err))
	}
	c := sink.counts
	verb := "imported"
	if dryRun {
		verb = "would import (dry run: nothing was written)"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s into %s: %d entries %s, %d already imported and left as they are, %d skipped; %d notes above\n",
		path, im.Workspace().Slug(), c.Created, verb, c.Unchanged, c.Skipped, sink.notes)
	return nil
}

// importer is the member the import acts as: the one with the address
// as, or else the workspace's first owner.
func importer(ctx context.Context, db *sqlstore.DB, wsRef, as string) (domain.Principal, error) {
	var (
		user       domain.UserID
		firstOwner time.Time
	)
	err := db.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		if as != "" {
			email, err := domain.ParseEmail("as", as)
			if err != nil {
				return fmt.Errorf("--as: %s", describe(err))
			}
			u, err := st.Users().GetByEmail(ctx, email)
			if err != nil {
				return fmt.Errorf("--as %s: %s", as, describe(err))
			}
			user = u.ID()
			return nil
		}
		w, err := st.Workspaces().GetBySlug(ctx, wsRef)
		if domain.KindOf(err) == domain.KindNotFound {
			w, err = st.Workspaces().Get(ctx, domain.WorkspaceID(wsRef))
		}
		if err != nil {
			return fmt.Errorf("workspace %s: %s", wsRef, describe(err))
		}
		for page := (ports.Page{Limit: ports.MaxPageLimit}); ; {
			ms, next, err := st.Memberships().List(ctx, w.ID(), page)
			if err != nil {
				return err
			}
			for _, m := range ms {
				if m.Role == domain.RoleOwner && (user == "" || m.CreatedAt.Before(firstOwner)) {
					user, firstOwner = m.User, m.CreatedAt
				}
			}
			if next == "" {
				break
			}
			page.After = next
		}
		if user == "" {
			return fmt.Errorf("workspace %s has no owner: name the importing member with --as", wsRef)
		}
		return nil
	})
	p := domain.NewUserPrincipal(user, false, "")
	return p.WithClient(domain.Client{UserAgent: "keel import"}), err
}

// importSink hands what a reader finds to the import: authors and tags
// once, before the first entry, then entries in batches, printing every
// note as one line as soon as it is known.
type importSink struct {
	ctx     context.Context
	im      *content.Import
	out     io.Writer
	bar     *progress
	authors []domain.ImportedAuthor
	tags    []domain.ImportedTag
	batch   []domain.ImportedEntry
	started bool
	counts  content.ImportCounts
	notes   int
}

func (s *importSink) Author(a domain.ImportedAuthor) error {
	s.authors = append(s.authors, a)
	return nil
}

func (s *importSink) Tag(t domain.ImportedTag) error {
	s.tags = append(s.tags, t)
	return nil
}

func (s *importSink) Entry(e domain.ImportedEntry) error {
	if err := s.start(); err != nil {
		return err
	}
	s.batch = append(s.batch, e)
	if len(s.batch) == content.ImportBatchSize {
		return s.flushEntries()
	}
	return nil
}

func (s *importSink) Note(n domain.ImportNote) {
	s.notes++
	line := "note: " + n.String() + "\n"
	if s.bar.onTerminal() {
		// Above the bar, which redraws itself after.
		line = "\r\x1b[K" + line
	}
	io.WriteString(s.out, line)
}

// start imports the authors and tags, once.
func (s *importSink) start() error {
	if s.started {
		return nil
	}
	s.started = true
	notes, err := s.im.ImportAuthors(s.ctx, s.authors)
	if err != nil {
		return err
	}
	more, err := s.im.ImportTags(s.ctx, s.tags)
	if err != nil {
		return err
	}
	for _, n := range append(notes, more...) {
		s.Note(n)
	}
	return nil
}

func (s *importSink) flushEntries() error {
	if len(s.batch) == 0 {
		return nil
	}
	c, notes, err := s.im.ImportEntries(s.ctx, s.batch)
	if err != nil {
		return err
	}
	s.batch = s.batch[:0]
	s.counts.Created += c.Created
	s.counts.Unchanged += c.Unchanged
	s.counts.Skipped += c.Skipped
	for _, n := range notes {
		s.Note(n)
	}
	return nil
}

// flush imports what is left once the file is read: an export without
// entries still brings its authors and tags.
func (s *importSink) flush() error {
	if err := s.start(); err != nil {
		return err
	}
	return s.flushEntries()
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.add(int64(n))
	return n, err
}
