package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
)

// connectTimeout bounds how long a command waits for the database before
// it reports it unreachable.
const connectTimeout = 10 * time.Second

func newMigrateCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or list database schema migrations",
		Long: `Keel's schema migrations are embedded in the binary, one set per database
engine. "keel serve" applies pending ones at start; use these commands to
migrate ahead of a deployment or to see where a database stands.`,
	}
	addFlags(cmd.PersistentFlags(), sDataDir, sDatabaseURL, sLogLevel)
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openStore(cmd, getenv)
			if err != nil {
				return err
			}
			defer db.Close()
			applied, err := migrateShowing(cmd.Context(), db, cmd.ErrOrStderr(), func(m sqlstore.Migration) {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %05d %s in %s\n", m.Version, m.Name, m.Took.Round(100*time.Microsecond))
			})
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s database is up to date\n", db.Dialect())
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openStore(cmd, getenv)
			if err != nil {
				return err
			}
			defer db.Close()
			ms, err := db.MigrationStatus(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
			for _, m := range ms {
				state, at := "pending", "-"
				if m.Applied {
					state, at = "applied", m.AppliedAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", m.Version, m.Name, state, at)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(up, status)
	return cmd
}

// migrateShowing applies every pending migration and shows them as they
// are applied: when tty is a terminal, a progress bar on it, and line for
// each migration once the bar is done; otherwise line for each migration
// as soon as it is applied, so that a log shows which one a long upgrade
// is in and how long each took.
func migrateShowing(ctx context.Context, db *sqlstore.DB, tty io.Writer, line func(sqlstore.Migration)) ([]sqlstore.Migration, error) {
	var bar *progress
	pending := func(n int) {
		if n == 0 {
			return
		}
		if p := newProgress(tty, int64(n), "migrating", false); p.onTerminal() {
			bar = p
		}
	}
	applied, err := db.MigrateEach(ctx, pending, func(m sqlstore.Migration) {
		if bar != nil {
			bar.add(1)
			return
		}
		line(m)
	})
	if bar != nil {
		bar.finish()
		for _, m := range applied {
			line(m)
		}
	}
	return applied, err
}

func openStore(cmd *cobra.Command, getenv func(string) string) (*sqlstore.DB, error) {
	cfg, err := loadStoreConfig(cmd.Flags(), getenv)
	if err != nil {
		return nil, err
	}
	return openDatabase(cmd.Context(), cfg.databaseURL)
}

// openDatabase connects with a deadline and names the setting at fault.
func openDatabase(ctx context.Context, url string, opts ...sqlstore.Option) (*sqlstore.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	db, err := sqlstore.Open(ctx, url, opts...)
	if err != nil {
		if domain.KindOf(err) == domain.KindUnavailable {
			if cause := errors.Unwrap(err); cause != nil {
				err = cause
			}
			return nil, sDatabaseURL.errorf("database unreachable: %v", err)
		}
		return nil, sDatabaseURL.errorf("%v", err)
	}
	return db, nil
}
