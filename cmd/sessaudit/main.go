// Command sessaudit keeps the record of WhatsApp session files true: it
// walks the shared session filesystem, sizes every session directory,
// reconciles that with the accounts table, writes the sizes it verified and
// reports everything that does not add up. See README.md and docs/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // --db-time-zone works on hosts without a zoneinfo database

	"golang.org/x/term"

	"sessaudit/cmd/internal/cli"
)

// stopGrace is how long a run may take to stop after SIGINT or SIGTERM
// before the process exits anyway. Every database batch is one transaction,
// so exiting mid-batch leaves it rolled back, never half-written.
const stopGrace = 4500 * time.Millisecond

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
		time.Sleep(stopGrace)
		fmt.Fprintf(os.Stderr, "sessaudit: did not stop within %v of the signal; exiting\n", stopGrace)
		os.Exit(cli.ExitFailed)
	}()
	code := cli.Run(ctx, os.Args[1:], cli.Env{
		Stdout:           os.Stdout,
		Stderr:           os.Stderr,
		StderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	os.Exit(code)
}
