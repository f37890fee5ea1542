package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"sessaudit/cmd/internal/output"
	"sessaudit/cmd/internal/report"
	"sessaudit/reconcile"
)

const reportUsage = `usage: sessaudit report <merge|show> [flags] FILE...

  merge   make one report of the JSON reports of the N shard runs of one audit
          (the pods of the Kubernetes CronJob), as text, JSON or HTML
  show    write one audit's JSON report as text or HTML, without auditing again

exit status: 0 written, 2 could not read, merge or write
`

// newReportCmd picks the subcommand named by args[1] ("merge" or "show"),
// as newSchemaCmd does.
func newReportCmd(env Env, args []string) (command, []string) {
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		return &usageCmd{name: "report", usage: reportUsage, subcommands: "merge or show"}, args
	}
	rest := append([]string{args[0] + " " + args[1]}, args[2:]...)
	switch args[1] {
	case "merge":
		return &reportCmd{env: env, merge: true, format: "text"}, rest
	case "show":
		return &reportCmd{env: env, format: "text"}, rest
	}
	return &usageCmd{name: "report", usage: reportUsage, subcommands: "merge or show", unknown: args[1]}, args[:1]
}

// usageCmd is a command with subcommands named without a valid one.
type usageCmd struct {
	name, usage, subcommands, unknown string
}

func (c *usageCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), c.usage) }
	return fs
}

func (c *usageCmd) run(context.Context) error {
	if c.unknown != "" {
		return usageError("unknown subcommand %q: want %s", c.unknown, c.subcommands)
	}
	return usageError("want a subcommand: %s", c.subcommands)
}

// reportCmd is "sessaudit report merge" and, without merge, "sessaudit
// report show": both read audits' JSON reports (a file each, or a pod's
// log holding one) and write one report; merge makes one of several.
type reportCmd struct {
	env    Env
	merge  bool
	format reportFormat
	output string
	files  []string
}

func (c *reportCmd) flags() *flag.FlagSet {
	name := "report show"
	if c.merge {
		name = "report merge"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Var(&c.format, "format", "report format: `text|json|html`")
	fs.StringVar(&c.output, "output", "", "write the report to `FILE`; - is stdout; a new path or regular file is replaced whole at the end, anything else (a link, a device, a FIFO) written into (default: stdout)")
	return fs
}

// setArgs takes the reports named after the flags.
func (c *reportCmd) setArgs(args []string) error {
	for _, a := range args {
		if strings.HasPrefix(a, "-") && a != "-" {
			return usageError("flags go before the reports: %s", a)
		}
	}
	c.files = args
	return nil
}

func (c *reportCmd) run(context.Context) error {
	switch {
	case len(c.files) == 0:
		return usageError("name the JSON report(s) to read")
	case !c.merge && len(c.files) > 1:
		return usageError("show reads one report; merge makes one of several")
	}
	reports := make([]*reconcile.Report, len(c.files))
	for i, name := range c.files {
		rep, err := readReport(name)
		if err != nil {
			return err
		}
		reports[i] = rep
	}
	rep, err := reconcile.Merge(reports)
	if err != nil {
		return usageError("%v", err)
	}
	dest, err := output.Open(c.output, c.env.Stdout)
	if err != nil {
		return err
	}
	defer dest.Close()
	return writeAudit(dest, c.format, rep)
}

// readReport reads the audit report in the file name ("-": standard input).
func readReport(name string) (*reconcile.Report, error) {
	f := os.Stdin
	if name != "-" {
		var err error
		if f, err = os.Open(name); err != nil {
			return nil, usageError("read report: %v", err)
		}
		defer f.Close()
	}
	rep, err := report.ReadAuditJSON(f)
	if err != nil {
		return nil, usageError("%s: %v (want the output of sessaudit audit --format json, or a pod's log holding it)", name, err)
	}
	return rep, nil
}
