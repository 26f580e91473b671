// Command keel is Keel's single binary: the HTTP server, the mail worker,
// the migrations and the administration commands. All of its logic lives
// in package bootstrap so that end-to-end tests can run the very same code
// in-process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/keelhq/keel/cmd/keel/bootstrap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bootstrap.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// One line, whatever the error holds: operators grep for it and
		// supervisors show only the last line.
		fmt.Fprintln(os.Stderr, "keel:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}
