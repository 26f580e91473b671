package bootstrap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keelhq/keel/application/identity"
)

func newAdminCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage instance administrators",
	}
	addFlags(cmd.PersistentFlags(), sDataDir, sDatabaseURL, sLogLevel)
	var email, name string
	var fromStdin bool
	create := &cobra.Command{
		Use:   "create --email EMAIL [--name NAME] [--password-stdin]",
		Short: "Create an instance administrator",
		Long: `Create an instance administrator account, who can then log in with
POST /v1/auth/login and create users and workspaces.

The password is read from a prompt, or with --password-stdin from the first
line of standard input (for scripts); it is never taken as a flag, where it
would show in the process list and the shell history.`,
		Example: `  keel admin create --email ops@example.com --name "Ops team"
  printf '%s\n' "$ADMIN_PASSWORD" | keel admin create --email ops@example.com --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if email == "" {
				return errors.New("--email is required")
			}
			password, err := readPassword(cmd, fromStdin)
			if err != nil {
				return err
			}
			db, err := openStore(cmd, getenv)
			if err != nil {
				return err
			}
			defer db.Close()
			if _, err := db.Migrate(cmd.Context()); err != nil {
				return sDatabaseURL.errorf("%v", err)
			}
			ids, err := newIdentity(cmd.Context(), db, sessionConfig{}, identity.WorkspacePolicy{}, newLogger(cmd.ErrOrStderr(), slog.LevelWarn), nil, nil)
			if err != nil {
				return err
			}
			defer ids.close()
			if name == "" {
				name, _, _ = strings.Cut(email, "@")
			}
			u, err := ids.svc.CreateUserFromCLI(cmd.Context(), identity.CreateUserInput{Email: email, Password: password, Name: name, InstanceAdmin: true})
			if err != nil {
				return fmt.Errorf("create administrator: %s", describe(err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created instance administrator %s (%s)\n", u.Email(), u.ID())
			return nil
		},
	}
	create.Flags().StringVar(&email, "email", "", "the administrator's e-mail address (required)")
	create.Flags().StringVar(&name, "name", "", "display name (default: the e-mail's local part)")
	create.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.AddCommand(create)
	return cmd
}

// readPassword reads from standard input or prompts twice on the terminal.
func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("standard input is not a terminal: pass the password with --password-stdin")
	}
	out := cmd.ErrOrStderr()
	fmt.Fprint(out, "Password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(out, "Repeat password: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(pw) != string(again) {
		return "", errors.New("the passwords do not match")
	}
	return string(pw), nil
}
