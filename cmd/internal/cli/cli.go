package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/afero"

	"sessaudit/cmd/internal/output"
	"sessaudit/db"
	"sessaudit/db/checklist"
	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// Exit statuses, as diff(1) uses them.
const (
	ExitClean    = 0 // done, nothing found
	ExitFindings = 1 // done, findings present
	ExitFailed   = 2 // could not be done
)

// Env is what a command may touch of the process it runs in.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// StderrIsTerminal selects console logs instead of JSON lines.
	StderrIsTerminal bool
	// Fs is the filesystem the share is read through; nil means the host's.
	Fs afero.Fs
}

func (e Env) fs() afero.Fs {
	if e.Fs == nil {
		return afero.NewOsFs()
	}
	return e.Fs
}

func (e Env) getenv(key string) string {
	if e.Getenv == nil {
		return os.Getenv(key)
	}
	return e.Getenv(key)
}

const usage = `usage: sessaudit <command> [flags]

commands:
  scan    walk the share and print the size of every session directory
  audit   reconcile the share with the accounts table, write verified sizes, report
  schema  check the accounts table against the migrations (check), print the SQL to fix it (sql)
  help    show this text; "sessaudit <command> -h" shows a command's flags

exit status: 0 nothing found, 1 findings present, 2 could not run
`

// Run runs the command line args (without the program name) and returns the
// exit status. It never panics on bad input.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ExitFailed
	}
	var cmd command
	switch args[0] {
	case "scan":
		cmd = newScanCmd(env)
	case "audit":
		cmd = newAuditCmd(env)
	case "schema":
		cmd, args = newSchemaCmd(env, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.Stdout, usage)
		return ExitClean
	default:
		fmt.Fprintf(env.Stderr, "sessaudit: unknown command %q\n\n%s", args[0], usage)
		return ExitFailed
	}
	fset := cmd.flags()
	fset.SetOutput(env.Stderr)
	if err := fset.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitClean
		}
		return ExitFailed // flag has printed the error and the usage
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "sessaudit %s: unexpected argument %q\n", args[0], fset.Arg(0))
		return ExitFailed
	}
	code, err := cmd.run(ctx)
	if err != nil {
		fmt.Fprintf(env.Stderr, "sessaudit %s: %s\n", args[0], explain(err))
		return ExitFailed
	}
	return code
}

type command interface {
	flags() *flag.FlagSet
	run(ctx context.Context) (int, error)
}

// explain turns an error into the one line an operator reads: what is wrong
// and what to do.
func explain(err error) string {
	msg := oneLine(err.Error())
	var hint string
	switch {
	case errors.Is(err, context.Canceled):
		hint = "interrupted"
	case errors.Is(err, context.DeadlineExceeded):
		hint = "timed out"
	case errors.Is(err, errUsage):
		hint = "see -h"
	case errors.Is(err, db.ErrBadDSN):
		hint = "--dsn (or SESSAUDIT_DSN) must look like user:password@tcp(host:3306)/database"
	case errors.Is(err, db.ErrUnreachable):
		hint = "check the host and port in --dsn and that the server is up"
	case errors.Is(err, db.ErrAccessDenied):
		hint = "the server refused the login: check the user and password in --dsn and that the user may use the database it names"
	case errors.Is(err, db.ErrUnknownDatabase):
		hint = "the server has no database of that name: check the database in --dsn"
	case errors.Is(err, db.ErrLocked):
		hint = "another sessaudit audit of this table is running; nothing was done, try again when it has finished"
	case errors.Is(err, db.ErrLockLost):
		hint = "the connection holding the audit lock was lost; writes stopped, rows written so far are complete"
	case errors.Is(err, db.ErrNoTable):
		hint = "check --table and the database named in --dsn"
	case errors.Is(err, checklist.ErrUnusableColumns):
		hint = "run 'sessaudit schema check' to see the table's columns and 'sessaudit schema sql' for the statements that fix them"
	case errors.Is(err, db.ErrMissingColumns):
		hint = "run 'sessaudit schema check' to see what the table lacks and 'sessaudit schema sql' for the statements that add it"
	case errors.Is(err, scanner.ErrRootNotDir), errors.Is(err, errBadRoot):
		hint = "--root must be the directory where the share is mounted on this host"
	case errors.Is(err, output.ErrDestination):
		hint = "nothing was done; --output must name a file in a directory that exists and is writable, or - for standard output"
	case errors.Is(err, reconcile.ErrWrongPrefix):
		hint = "nothing was written; set --path-prefix to the prefix the application stores in session_storage_path"
	case errors.Is(err, reconcile.ErrTooManyMissing):
		hint = "nothing was written; check --root and --path-prefix, or raise --max-missing-ratio if so many sessions really are gone"
	}
	if hint == "" {
		return msg
	}
	return msg + " (" + hint + ")"
}

var (
	errUsage   = errors.New("bad usage")
	errBadRoot = errors.New("bad root")
)

// mark adds a sentinel to err without changing its message, so that
// explain can tell which flag an error is about.
func mark(sentinel, err error) error {
	return marked{sentinel, err}
}

type marked struct{ sentinel, err error }

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.sentinel, m.err} }

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// newLogger builds the one logger of a run: console lines for a person at a
// terminal, JSON lines otherwise.
func newLogger(env Env, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), usageError("--log-level %q: want debug, info, warn or error", level)
	}
	var w io.Writer = env.Stderr
	if env.StderrIsTerminal {
		w = zerolog.ConsoleWriter{Out: env.Stderr, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
