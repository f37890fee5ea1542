package cli_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sessaudit/cmd/internal/cli"
)

var updateDocs = flag.Bool("update", false, "rewrite the help blocks of README.md and docs/*.md from the commands' -h")

// regenerate is the one line that brings the documentation back in line
// with the help; every failure of TestDocsMatchHelp prints it.
const regenerate = "go test ./cmd/internal/cli -run TestDocsMatchHelp -update"

// helpInDocs says which page of the documentation holds the help of which
// command, as the command prints it. Every command of `sessaudit help` has
// one.
var helpInDocs = []struct {
	page string
	args []string
}{
	{"README.md", []string{"help"}},
	{"docs/scan.md", []string{"scan", "-h"}},
	{"docs/audit.md", []string{"audit", "-h"}},
	{"docs/watch.md", []string{"watch", "-h"}},
	{"docs/schema.md", []string{"schema", "check", "-h"}},
	{"docs/schema.md", []string{"schema", "sql", "-h"}},
	{"docs/report.md", []string{"report", "merge", "-h"}},
	{"docs/report.md", []string{"report", "show", "-h"}},
	{"docs/reclaim.md", []string{"reclaim", "-h"}},
	{"docs/reclaim.md", []string{"restore", "-h"}},
	{"docs/reclaim.md", []string{"purge", "-h"}},
}

// helpBlock is the block of a page that holds the help of args: a fenced
// block between two comments that name the command line.
func helpBlock(args []string, help string) (begin, end, block string) {
	line := "sessaudit " + strings.Join(args, " ")
	begin = fmt.Sprintf("<!-- %s: generated, do not edit; %s -->\n", line, regenerate)
	end = fmt.Sprintf("<!-- end of %s -->\n", line)
	return begin, end, begin + "```text\n$ " + line + "\n" + help + "```\n" + end
}

// TestDocsMatchHelp keeps the documentation's flag reference the commands'
// own: each page named in helpInDocs holds, between two markers, exactly
// what `sessaudit <command> -h` prints (flags, defaults, exit statuses), so
// a flag added, renamed or changed fails here until the docs say it too.
// With -update it rewrites the blocks instead.
func TestDocsMatchHelp(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	pages := map[string]string{}
	for _, h := range helpInDocs {
		if _, ok := pages[h.page]; ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, h.page))
		if err != nil {
			t.Fatal(err)
		}
		pages[h.page] = string(b)
	}
	changed := map[string]bool{}
	for _, h := range helpInDocs {
		res := run(t, nil, h.args...)
		if res.code != cli.ExitClean || res.stderr != "" {
			t.Fatalf("%q: exit %d, stderr %q", h.args, res.code, res.stderr)
		}
		begin, end, want := helpBlock(h.args, res.stdout)
		text := pages[h.page]
		i := strings.Index(text, begin)
		j := strings.Index(text, end)
		if i < 0 || j < i {
			t.Errorf("%s lacks `sessaudit %s` between its markers; put these two lines where it belongs and run\n  %s\n%s%s",
				h.page, strings.Join(h.args, " "), regenerate, begin, end)
			continue
		}
		got := text[i : j+len(end)]
		if got == want {
			continue
		}
		if *updateDocs {
			pages[h.page] = text[:i] + want + text[j+len(end):]
			changed[h.page] = true
			continue
		}
		t.Errorf("%s: its copy of `sessaudit %s` is not what the command prints now, %s\nregenerate the docs with:\n  %s",
			h.page, strings.Join(h.args, " "), firstDifference(got, want), regenerate)
	}
	for page := range changed {
		if err := os.WriteFile(filepath.Join(root, page), []byte(pages[page]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the help in %s", page)
	}
}

// TestEveryCommandDocumented: a command that `sessaudit help` lists has its
// help in the docs, so a new command cannot ship without its reference.
func TestEveryCommandDocumented(t *testing.T) {
	res := run(t, nil, "help")
	_, list, _ := strings.Cut(res.stdout, "commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	documented := map[string]bool{"help": true, "version": true}
	for _, h := range helpInDocs {
		documented[h.args[0]] = true
	}
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 && !documented[f[0]] {
			t.Errorf("sessaudit help lists %q, whose help is in no page of helpInDocs (helpdocs_test.go)", f[0])
		}
	}
}

// firstDifference names the first line where the docs and the help part.
func firstDifference(docs, help string) string {
	d, h := strings.Split(docs, "\n"), strings.Split(help, "\n")
	for n := 0; n < len(d) || n < len(h); n++ {
		var a, b string
		if n < len(d) {
			a = d[n]
		}
		if n < len(h) {
			b = h[n]
		}
		if a != b {
			return fmt.Sprintf("from line %d of the block:\n  docs: %q\n  help: %q", n+1, a, b)
		}
	}
	return "they differ"
}
