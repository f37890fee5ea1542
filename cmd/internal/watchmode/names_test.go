package watchmode

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var updateNames = flag.Bool("update", false, "rewrite testdata/metric-names.txt from /metrics")

// TestMetricNames keeps testdata/metric-names.txt, the series /metrics
// serves (name and label names; the Go runtime's go_* left out, they follow
// the toolchain), equal to what the watcher exports. The dashboard and
// the alert rules of deploy/ are checked against it
// (deploy/grafana/dashboard_test.go), so a series renamed here fails there.
// Regenerate: go test ./cmd/internal/watchmode -run TestMetricNames -update
func TestMetricNames(t *testing.T) {
	side := newFakeSide()
	x := start(t, side, Config{Labels: map[string]string{"shard": "1/4"}})
	eventually(t, "ready", func() bool { ok, _ := x.r.Ready(); return ok })
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(scrape(t, x.r)))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for name, mf := range families {
		if strings.HasPrefix(name, "go_") {
			continue
		}
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		names := make([]string, 0, len(labels))
		for l := range labels {
			names = append(names, l)
		}
		slices.Sort(names)
		lines = append(lines, strings.TrimSpace(name+" "+strings.Join(names, ",")))
	}
	slices.Sort(lines)
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", "metric-names.txt")
	if *updateNames {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != got {
		t.Errorf("%s is not what /metrics serves (%v); regenerate it with\n  go test ./cmd/internal/watchmode -run TestMetricNames -update\ngot:\n%s", path, err, got)
	}
}
