package grafana

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// catalogue is every series sessaudit exports, name to label names, read
// from the exposition files the producers' own tests hold to their code:
// the metrics files of the audit, reclaim, restore and purge
// (cmd/internal/metrics/testdata/*.prom) and the watcher's /metrics
// (cmd/internal/watchmode/testdata/metric-names.txt).
func catalogue(t *testing.T) map[string]map[string]bool {
	t.Helper()
	cat := map[string]map[string]bool{}
	add := func(name string, labels ...string) {
		if cat[name] == nil {
			cat[name] = map[string]bool{}
		}
		for _, l := range labels {
			cat[name][l] = true
		}
	}
	files, err := filepath.Glob("../../cmd/internal/metrics/testdata/*.prom")
	if err != nil || len(files) == 0 {
		t.Fatalf("no metrics files in cmd/internal/metrics/testdata: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, mf := range families {
			add(name)
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					add(name, l.GetName())
				}
			}
		}
	}
	b, err := os.ReadFile("../../cmd/internal/watchmode/testdata/metric-names.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, labels, _ := strings.Cut(line, " ")
		add(name, strings.Split(labels, ",")...)
	}
	// Every run may be a shard; the scrape adds job and instance.
	for name := range cat {
		if strings.HasPrefix(name, "sessaudit_") {
			add(name, "shard")
		}
		add(name, "job", "instance")
	}
	return cat
}

var (
	selector = regexp.MustCompile(`\b((?:sessaudit|process)_[a-zA-Z0-9_]+)\b(\{[^}]*\})?`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"([^"]*)"`)
	grouping = regexp.MustCompile(`\b(?:by|without|on|ignoring)\s*\(([^)]*)\)`)
)

// checkExpr reports the series and labels of a PromQL expression that
// sessaudit does not export: each sessaudit_* or process_* name, each label
// a selector matches on, each label of by, without, on and ignoring, and a
// __name__ pattern, which must match some series.
func checkExpr(cat map[string]map[string]bool, expr string) []string {
	var bad []string
	used := map[string]bool{}
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		name := m[1]
		labels, ok := cat[name]
		if !ok {
			bad = append(bad, "no series "+name)
			continue
		}
		used[name] = true
		for _, lm := range matcher.FindAllStringSubmatch(m[2], -1) {
			if !labels[lm[1]] {
				bad = append(bad, name+" has no label "+lm[1])
			}
		}
	}
	for _, lm := range matcher.FindAllStringSubmatch(expr, -1) {
		if lm[1] != "__name__" {
			continue
		}
		re, err := regexp.Compile("^(?:" + lm[2] + ")$")
		if err != nil {
			bad = append(bad, "bad __name__ pattern "+lm[2])
			continue
		}
		n := 0
		for name := range cat {
			if re.MatchString(name) {
				used[name] = true
				n++
			}
		}
		if n == 0 {
			bad = append(bad, "no series matches __name__ "+lm[2])
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			found := false
			for name := range used {
				found = found || cat[name][l]
			}
			if !found {
				bad = append(bad, "no series of the expression has label "+l)
			}
		}
	}
	return bad
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("sessaudit.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("sessaudit.json: %v", err)
	}
	return d
}

// TestDashboard: the dashboard loads as Grafana reads it (uid, title, a
// schema version, panels with unique ids inside the 24-column grid, each
// query on the dashboard's Prometheus data source variable), and every
// query and template variable names only series and labels sessaudit
// exports.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	cat := catalogue(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want all three", d.UID, d.Title, d.SchemaVersion)
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want prometheus ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			for _, problem := range checkExpr(cat, q.Expr) {
				t.Errorf("panel %q: %s: %s", p.Title, q.Expr, problem)
			}
		}
	}
	for _, v := range d.Templating.List {
		for _, problem := range checkExpr(cat, v.Definition) {
			t.Errorf("variable %s: %s: %s", v.Name, v.Definition, problem)
		}
	}
	if queries < 10 {
		t.Errorf("%d queries: the dashboard lost its panels", queries)
	}
}

// TestAlertRulesUseExportedSeries: every expression of the shipped alert
// rules names series and labels sessaudit exports.
func TestAlertRulesUseExportedSeries(t *testing.T) {
	b, err := os.ReadFile("../prometheus/sessaudit-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	cat := catalogue(t)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, problem := range checkExpr(cat, r.Expr) {
				t.Errorf("%s: %s", r.Alert, problem)
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules read")
	}
}

// TestCheckExprFinds: the check catches a series that is not exported, a
// label a series does not have, a grouping by a label no series has, and a
// __name__ pattern that matches nothing.
func TestCheckExprFinds(t *testing.T) {
	cat := catalogue(t)
	for expr, want := range map[string]string{
		`sessaudit_findigns{kind="missing"}`:                 "no series sessaudit_findigns",
		`sessaudit_findings{knd="missing"}`:                  "has no label knd",
		`sum by (workspace) (sessaudit_findings)`:            "has label workspace",
		`{__name__=~"sessaudit_(reclam)_last_run_success"}`:  "no series matches",
		`rate(sessaudit_watch_reconciled_total[5m])`:         "no series sessaudit_watch_reconciled_total",
		`sum by (kind) (sessaudit_findings{kind="missing"})`: "",
	} {
		got := strings.Join(checkExpr(cat, expr), "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want %q", expr, got, want)
		}
	}
}
