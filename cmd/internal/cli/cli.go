package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/afero"

	"sessaudit/cmd/internal/output"
	"sessaudit/cmd/internal/version"
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
	// Now is the clock the grace periods and the time budget are measured
	// on; nil means time.Now. A test moves it forward: the change times
	// the grace period goes by cannot be set back.
	Now func() time.Time
}

func (e Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
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
  watch   keep the rows of a shard's sessions current as their files change (a sidecar)
  schema  check the accounts table against the migrations (check), print the SQL to fix it (sql)
  report  merge the JSON reports of N shard runs into one (merge), or show one as text or HTML (show)
  reclaim move an audit's orphan and soft_deleted directories, or (--caches) stopped sessions' caches, into quarantine (a plan without --yes)
  restore move a reclaim run back from quarantine
  purge   delete quarantine runs older than --older-than (only with --yes)
  help    show this text; "sessaudit help <command>" or "sessaudit <command> -h" shows a command's help
  version show the version and the VCS revision this binary was built from (also --version)

exit status: 0 nothing found, 1 findings present, 2 could not run

` + envNote + "\n"

// errFindings is what a command returns when it did its work and found
// something: exit status 1, and nothing printed for it.
var errFindings = errors.New("cli: findings present")

// findingsCode is errFindings with the exit status an operator chose for
// it (audit --findings-exit-code).
type findingsCode int

func (c findingsCode) Error() string        { return errFindings.Error() }
func (c findingsCode) Is(target error) bool { return target == errFindings }

// exitCode is the one place an outcome becomes an exit status.
func exitCode(err error) int {
	var code findingsCode
	switch {
	case err == nil:
		return ExitClean
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, errFindings):
		return ExitFindings
	default:
		return ExitFailed
	}
}

// Run runs the command line args (without the program name) and returns the
// exit status. It never panics on bad input. Every error is printed as one
// line on stderr.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ExitFailed
	}
	name, err := runCommand(ctx, args, env)
	if err != nil && !errors.Is(err, errFindings) {
		msg := explain(err)
		switch {
		case errors.Is(err, errUnknownCommand):
			msg += "; see 'sessaudit help'"
		case errors.Is(err, errUsage):
			msg += "; see 'sessaudit " + name + " -h'"
		}
		fmt.Fprintf(env.Stderr, "sessaudit %s: %s\n", name, msg)
	}
	return exitCode(err)
}

// runCommand parses args and runs the command they name; it returns the
// command's full name ("schema check") for messages.
func runCommand(ctx context.Context, args []string, env Env) (string, error) {
	if args[0] == "version" || args[0] == "--version" || args[0] == "-version" {
		if len(args) > 1 {
			return "version", usageError("unexpected argument %q", args[1])
		}
		fmt.Fprint(env.Stdout, version.Current())
		return "version", nil
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		if len(args) < 2 {
			fmt.Fprint(env.Stdout, usage)
			return "help", nil
		}
		args = append(args[1:], "-h") // sessaudit help audit = sessaudit audit -h
	}
	cmd, name, flagArgs, err := newCommand(env, args)
	if err != nil {
		return args[0], err
	}
	fset := cmd.flags()
	fset.SetOutput(io.Discard) // errors are reported in one line below, help on -h
	fset.Usage = func() {}
	if err := fset.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.Stdout, help(name, fset))
			return name, nil
		}
		return name, flagError(fset, err)
	}
	if fset.NArg() > 0 {
		// Only a command that takes arguments after its flags gets them.
		a, ok := cmd.(interface{ setArgs([]string) error })
		if !ok {
			return name, usageError("unexpected argument %q", fset.Arg(0))
		}
		if err := a.setArgs(fset.Args()); err != nil {
			return name, err
		}
	}
	if err := bindEnv(fset, env); err != nil {
		return name, err
	}
	return name, cmd.run(ctx)
}

// newCommand returns the command args name, its full name ("audit",
// "schema check") and the arguments left for its flags.
func newCommand(env Env, args []string) (command, string, []string, error) {
	switch args[0] {
	case "scan":
		return newScanCmd(env), "scan", args[1:], nil
	case "audit":
		return newAuditCmd(env), "audit", args[1:], nil
	case "schema":
		cmd, rest := newSchemaCmd(env, args)
		return cmd, rest[0], rest[1:], nil
	case "reclaim", "restore", "purge":
		return newReclaimCommand(env, args[0]), args[0], args[1:], nil
	case "watch":
		return newWatchCmd(env), "watch", args[1:], nil
	case "report":
		cmd, rest := newReportCmd(env, args)
		return cmd, rest[0], rest[1:], nil
	}
	return nil, "", nil, mark(errUnknownCommand, fmt.Errorf("unknown command %q: want scan, audit, watch, schema, report, reclaim, restore, purge, version or help", args[0]))
}

type command interface {
	flags() *flag.FlagSet
	run(ctx context.Context) error
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
		// the message says it
	case errors.Is(err, db.ErrBadDSN):
		hint = "--dsn (or SESSAUDIT_DSN) must look like user:password@tcp(host:3306)/database"
	case errors.Is(err, db.ErrUnreachable):
		hint = "check the host and port in --dsn and that the server is up"
	case errors.Is(err, db.ErrAccessDenied):
		hint = "the server refused the login: check the user and password in --dsn and that the user may use the database it names"
	case errors.Is(err, db.ErrBadTimeZone):
		hint = "--db-session-time-zone must be an offset such as +00:00, SYSTEM, or a zone name the server's time zone tables hold"
	case errors.Is(err, db.ErrUnknownDatabase):
		hint = "the server has no database of that name: check the database in --dsn"
	case errors.Is(err, db.ErrLocked):
		hint = "another sessaudit run of this table holds the lock named above; nothing was done, try again when it has finished"
	case errors.Is(err, db.ErrNoAnswer):
		hint = "the database server stopped answering (stopped, overloaded, or cut off by the network); the call was given up after --db-timeout, rows written before it are complete"
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
		hint = "nothing was done; name a file in a directory that exists and is writable, a device, or a FIFO that a process reads"
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
	// errUnknownCommand: the first argument names no command.
	errUnknownCommand = errors.New("unknown command")
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
	return mark(errUsage, fmt.Errorf(format, args...))
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
