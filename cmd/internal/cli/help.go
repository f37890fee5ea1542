package cli

import (
	"flag"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// docs is each command's help: synopsis, what it does, an example; the
// flags and the exit statuses follow it.
var docs = map[string]struct{ synopsis, about, example, exit string }{
	"scan": {
		synopsis: "sessaudit scan --root DIR [--format text|json] [--workers N] [--workspace ID]...",
		about:    "Walks ROOT/workspace_*/session_* and prints the size of every session directory:\na table (text) or one JSON object per session per line (json). No database.",
		example:  "sessaudit scan --root /mnt/efs --format json > sizes.jsonl",
		exit:     "0 every session measured, nothing unrecognized; 1 some entry unreadable or unrecognized;\n2 could not scan (bad flags, root missing)",
	},
	"audit": {
		synopsis: "sessaudit audit [--root DIR] [--dsn DSN] [--dry-run] [--format text|json|html] [--output FILE|-] [flags]",
		about:    "Reconciles the share with the accounts table: gives every session directory and row one\noutcome, writes the verified sizes and reports the findings.",
		example:  "SESSAUDIT_DSN='sessaudit:secret@tcp(db:3306)/app' sessaudit audit --root /mnt/efs --dry-run",
		exit:     "0 audited, nothing found; 1 audited, findings present; 2 could not audit (nothing written,\nunless the one line on stderr says how many rows were)",
	},
	"watch": {
		synopsis: "sessaudit watch [--root DIR] [--dsn DSN] [--shard I/N] [--debounce 2s] [--rescan-interval 1h] [--max-watches N] [--listen ADDR] [flags]",
		about:    "Keeps the rows of a shard's sessions current as their files change: a sidecar next to\neach Node.js instance. Each session touched by a filesystem event is reconciled as the\naudit would, after --debounce of quiet; the whole shard is rescanned at start, every\n--rescan-interval, after an event overflow and when the database comes back. Findings\nare logged as JSON lines. Runs until SIGINT or SIGTERM.",
		example:  "SESSAUDIT_DSN='sessaudit:secret@tcp(db:3306)/app' sessaudit watch --root /mnt/efs --shard 2/8 --listen :9090",
		exit:     "0 stopped by a signal; 2 could not start (bad flags, root missing, database unreachable,\nanother watcher holds the shard) or watching failed",
	},
	"schema check": {
		synopsis: "sessaudit schema check [--dsn DSN] [--table T] [--format text|json]",
		about:    "Reports, item by item, whether the accounts table is ready for the audit and has the\nmigrations' columns and indexes. Reads information_schema only.",
		example:  "SESSAUDIT_DSN='sessaudit:secret@tcp(db:3306)/app' sessaudit schema check",
		exit:     "0 ready; 1 a required item missing or a unique index on phone_number; 2 could not check",
	},
	"reclaim": {
		synopsis: "sessaudit reclaim --report FILE --quarantine DIR [--kinds orphan,soft_deleted] [--max-moves 100] [--yes]\n       sessaudit reclaim --caches --root DIR --quarantine DIR [--min-age 1h] [--max-moves 100] [--yes]",
		about:    "Moves the orphan and soft_deleted directories of an audit's JSON report into a quarantine\nrun by rename, each only if it still holds up just before (a real directory, untouched\nfor the grace period, no row but soft-deleted ones refers to it), recording every move\nin the run's manifest.json. With --caches it moves instead the regenerable parts of the\nwhatsapp-web.js sessions under --root that are not running (a live row, none connected,\nauthenticated or qr_scanning; no SingletonLock; quiet for --min-age): never\nDefault/IndexedDB nor Default/Local Storage, nothing of a Baileys session. Without --yes\nit prints the plan and moves nothing.",
		example:  "sessaudit reclaim --report audit.json --quarantine /mnt/efs/.sessaudit-quarantine\n  sessaudit reclaim --caches --root /mnt/efs --quarantine /mnt/efs/.sessaudit-quarantine",
		exit:     "0 every planned directory moved (or the plan printed); 1 some skipped by a check;\n2 could not run, or stopped midway (what moved is in the manifest)",
	},
	"restore": {
		synopsis: "sessaudit restore --manifest DIR/RUN/manifest.json [--root DIR]",
		about:    "Moves every directory of a reclaim run back to its place by rename. Never replaces\nanything there: such a directory stays in quarantine and is reported.",
		example:  "sessaudit restore --manifest /mnt/efs/.sessaudit-quarantine/20260105T100000Z/manifest.json",
		exit:     "0 everything back; 1 something could not be restored; 2 could not run",
	},
	"purge": {
		synopsis: "sessaudit purge --quarantine DIR --older-than 30d [--yes]",
		about:    "Deletes the quarantine runs whose manifest's latest line is older than --older-than:\nonly the directories each manifest lists, then the run. Without --yes it prints what\nit would delete.",
		example:  "sessaudit purge --quarantine /mnt/efs/.sessaudit-quarantine --older-than 30d",
		exit:     "0 done (or nothing old enough); 1 something left alone that needs a look; 2 could not run",
	},
	"report merge": {
		synopsis: "sessaudit report merge [--format text|json|html] [--output FILE] REPORT.json...",
		about:    "Makes one report of the JSON reports of the N shard runs of one audit (the pods of the\nKubernetes CronJob), as one run over all workspaces would have written it: counts added\nup, findings together, the largest sessions chosen again. A shard not given is named in\nits warnings. A report may be a pod's log, with the audit's log lines around it.\nFlags go before the reports.",
		example:  "sessaudit report merge --format html --output audit.html shard-0.json shard-1.json shard-2.json shard-3.json",
		exit:     "0 written; 2 could not (a report unreadable, of another share, a shard given twice,\nor the output not writable)",
	},
	"report show": {
		synopsis: "sessaudit report show [--format text|json|html] [--output FILE] REPORT.json",
		about:    "Writes an audit's JSON report as text or HTML, without auditing again. The report may\nbe a pod's log, with the audit's log lines around it.",
		example:  "sessaudit report show --format html --output audit.html audit.json",
		exit:     "0 written; 2 could not read the report or write the output",
	},
	"schema sql": {
		synopsis: "sessaudit schema sql [--dsn DSN] [--table T]",
		about:    "Prints the statements that bring the table to the migrated schema (only what is\nmissing). Never runs them.",
		example:  "SESSAUDIT_DSN='sessaudit:secret@tcp(db:3306)/app' sessaudit schema sql > migrate.sql",
		exit:     "0 printed; 2 could not read the table",
	},
}

// help is the text -h prints for the command name.
func help(name string, fset *flag.FlagSet) string {
	d, ok := docs[name]
	if !ok { // a command named without its subcommand
		if name == "report" {
			return reportUsage
		}
		return schemaUsage
	}
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n%s\n\nexample:\n  %s\n\nflags:\n", d.synopsis, d.about, d.example)
	fset.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if g, ok := f.Value.(flag.Getter); ok && typ == "value" {
			if _, ok := g.Get().(time.Duration); ok {
				typ = "duration" // as flag.DurationVar's
			}
		}
		fmt.Fprintf(&b, "  --%s", f.Name)
		if typ != "" {
			fmt.Fprintf(&b, " %s", typ)
		}
		fmt.Fprintf(&b, "\n        %s", usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	fmt.Fprintf(&b, "\n%s\n", envNote)
	fmt.Fprintf(&b, "\nexit status: %s\n", d.exit)
	return b.String()
}

var (
	badValue   = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([^:]+): `)
	unknown    = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	needsValue = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// flagError turns an error of the flag package into one line that names the
// flag the way the README writes it (--name) and says what a value must
// look like, instead of flag's "parse error".
func flagError(fset *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := unknown.FindStringSubmatch(msg); m != nil {
		return usageError("unknown flag --%s", m[1])
	}
	if m := needsValue.FindStringSubmatch(msg); m != nil {
		return usageError("--%s needs a value", m[1])
	}
	m := badValue.FindStringSubmatch(msg)
	if m == nil {
		return usageError("%s", msg)
	}
	value, name := m[1], m[2]
	want := strings.TrimPrefix(msg, m[0])
	if f := fset.Lookup(name); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			switch g.Get().(type) {
			case time.Duration:
				want = "want a duration with a unit, such as 2d, 48h or 30m"
			case int, int64, uint, uint64:
				want = "want a whole number"
			case float64:
				want = "want a number, such as 0.5"
			case bool:
				want = "want true or false"
			}
		}
	}
	return usageError("--%s %q: %s", name, value, want)
}
