// Package bootstrap is Keel's composition root: the only code that reads
// flags and KEEL_* environment variables, picks the adapters they name and
// wires them to the application. main calls Run; end-to-end tests call it
// too, on port 0.
package bootstrap

import (
	"context"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Run is the whole program. args excludes the program name; getenv is how it
// reads the environment (tests pass a map's lookup); stdin may be nil when
// no command will read it. It returns when the command is done or, for
// serve, when ctx is cancelled and shutdown is over.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRootCommand(getenv)
	root.SetArgs(args)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceUsage, root.SilenceErrors = true, true
	return root.ExecuteContext(ctx)
}

func newRootCommand(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "keel",
		Short: "Keel: content, forms, reliable mail and a partner API in one Go service",
		Long: `Keel is the back end of a website and its partners. It stores content and
serves it, accepts form submissions from any HTML page and e-mails people about
them through a transactional outbox, and exposes it all as a versioned REST API.

With no configuration, "keel serve" listens on 127.0.0.1:8080, keeps its data in
SQLite under ./keel-data and prints mail to the console. Every flag can also be
set with the KEEL_* environment variable shown next to it; flags win.`,
		Example: `  keel serve
  KEEL_DATABASE_URL=postgres://keel:secret@db:5432/keel keel serve --http-addr :8080
  keel migrate status`,
	}
	// Shell completion is a nicety for interactive tools; for a server it
	// is one more command to read past in the help.
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newServeCommand(getenv), newWorkerCommand(getenv), newMigrateCommand(getenv), newAdminCommand(getenv), newBackupCommand(getenv), newRestoreCommand(getenv), newVersionCommand())
	root.AddCommand(newHealthcheckCommand(getenv))
	root.AddCommand(newImportCommand(getenv))
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Keel's version and commit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuild()
			out := "keel " + b.Version + "\n"
			if b.Commit != "" {
				out += "commit " + b.Commit
				if b.Modified {
					out += " (modified)"
				}
				out += "\n"
			}
			_, err := io.WriteString(cmd.OutOrStdout(), out)
			return err
		},
	}
}
