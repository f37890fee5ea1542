// Command sessaudit keeps the record of WhatsApp session files true: it
// walks the shared session filesystem, sizes every session directory,
// reconciles that with the accounts table, writes the sizes it verified and
// reports everything that does not add up. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // --db-time-zone works on hosts without a zoneinfo database

	"golang.org/x/term"

	"sessaudit/cmd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{
		Stdout:           os.Stdout,
		Stderr:           os.Stderr,
		StderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	stop()
	os.Exit(code)
}
