package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"sessaudit/db"
	"sessaudit/db/checklist"
)

const schemaUsage = `usage: sessaudit schema <check|sql> [flags]

  check   report, item by item, whether the accounts table is ready for the audit
          and has the migrations' columns and indexes
  sql     print the ALTER TABLE statements that bring the table to the migrated
          schema (only what is missing); never runs them

exit status: check: 0 ready, 1 a required item missing or a unique index on
phone_number, 2 could not check; sql: 0 printed, 2 could not read the table
`

// newSchemaCmd picks the subcommand named by args[1] ("check" or "sql") and
// returns it with the arguments Run is to parse: the command name, now
// "schema check", then the flags. Without a subcommand the result prints the
// schema usage on -h and refuses otherwise.
func newSchemaCmd(env Env, args []string) (command, []string) {
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		return &usageCmd{name: "schema", usage: schemaUsage, subcommands: "check or sql"}, args
	}
	rest := append([]string{args[0] + " " + args[1]}, args[2:]...)
	switch args[1] {
	case "check":
		return &schemaCmd{env: env, format: "text"}, rest
	case "sql":
		return &schemaCmd{env: env, sql: true}, rest
	}
	return &usageCmd{name: "schema", usage: schemaUsage, subcommands: "check or sql", unknown: args[1]}, args[:1]
}

// schemaCmd is "sessaudit schema check" and, with sql set, "sessaudit
// schema sql": both read the table and apply the checklist; they differ in
// what they print and in the exit status.
type schemaCmd struct {
	env    Env
	sql    bool
	db     tableFlags
	format formatFlag
}

func (c *schemaCmd) flags() *flag.FlagSet {
	name := "schema check"
	if c.sql {
		name = "schema sql"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c.db.register(fs)
	if !c.sql {
		fs.Var(&c.format, "format", "output: `text|json`")
	}
	return fs
}

func (c *schemaCmd) run(ctx context.Context) error {
	dbConfig, err := c.db.config(c.env)
	if err != nil {
		return err
	}
	schema, err := db.Inspect(ctx, dbConfig)
	if err != nil {
		return err
	}
	cl := checklist.Check(schema)
	w := bufio.NewWriter(c.env.Stdout)
	switch {
	case c.sql:
		writeSchemaSQL(w, schema, cl)
	case c.format == "json":
		err = writeChecklistJSON(w, cl)
	default:
		writeChecklistText(w, cl)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if c.sql || cl.Ready() {
		return nil
	}
	return errFindings
}

// checklistItem is one item in --format json.
type checklistItem struct {
	Item   string `json:"item"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

func writeChecklistJSON(w *bufio.Writer, cl *checklist.Result) error {
	doc := struct {
		Table      string          `json:"table"`
		Items      []checklistItem `json:"items"`
		RequiredOK bool            `json:"required_ok"`
	}{Table: cl.Table, Items: []checklistItem{}, RequiredOK: cl.Ready()}
	for _, it := range cl.Items {
		doc.Items = append(doc.Items, checklistItem{Item: it.Name, Status: string(it.Status), Detail: it.Detail, Fix: it.Fix})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// writeChecklistText writes one line per item, a verdict, and the SQL that
// fixes what is not ok.
func writeChecklistText(w *bufio.Writer, cl *checklist.Result) {
	var errs, warns int
	for _, it := range cl.Items {
		switch it.Status {
		case checklist.StatusError:
			errs++
		case checklist.StatusWarn:
			warns++
		}
		fmt.Fprintf(w, "%-5s  %s: %s\n", it.Status, it.Name, it.Detail)
	}
	fmt.Fprintln(w)
	verdict := "ready for the audit"
	if !cl.Ready() {
		verdict = "NOT ready"
	}
	fmt.Fprintf(w, "%s: %s, %s, %s\n", cl.Table, verdict, countOf(errs, "error"), countOf(warns, "warning"))
	if stmts := cl.SQL(); len(stmts) > 0 {
		fmt.Fprintf(w, "\n-- SQL to fix, in this order (review it first; sessaudit never runs it):\n")
		for _, s := range stmts {
			fmt.Fprintln(w, s)
		}
	}
}

// writeSchemaSQL writes the fixing statements as a script: comments name
// the table and what is left to a person.
func writeSchemaSQL(w *bufio.Writer, s *db.Schema, cl *checklist.Result) {
	fmt.Fprintf(w, "-- sessaudit schema sql: table %s in database %s.\n", s.Table, s.Database)
	stmts := cl.SQL()
	if len(stmts) == 0 {
		fmt.Fprintln(w, "-- Nothing to do: the table has every column and index of the migrations and no unique index on phone_number.")
	} else {
		fmt.Fprintln(w, "-- Brings it to the schema of the four multi-instance migrations. Review before running.")
	}
	for _, it := range cl.Items {
		if it.Status != checklist.StatusOK && it.Fix == "" {
			fmt.Fprintf(w, "-- Not changed, see to it by hand: %s: %s\n", it.Name, it.Detail)
		}
	}
	for _, st := range stmts {
		fmt.Fprintln(w, st)
	}
}

func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
