package docs

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// rules is the part of a Prometheus rule file the tests read.
type rules struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) rules {
	t.Helper()
	b, err := os.ReadFile("../deploy/prometheus/sessaudit-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var r rules
	if err := yaml.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRunbooks: every shipped alert has a runbook_url naming its own
// section of docs/monitoring.md, and that section exists, so an operator
// paged at night lands on what to do.
func TestRunbooks(t *testing.T) {
	page, err := os.ReadFile("monitoring.md")
	if err != nil {
		t.Fatal(err)
	}
	have := anchors(string(page))
	n := 0
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			want := "docs/monitoring.md#" + strings.ToLower(r.Alert)
			if got := r.Annotations["runbook_url"]; got != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, want)
			}
			if !have[strings.ToLower(r.Alert)] {
				t.Errorf("%s: docs/monitoring.md has no section \"### %s\"", r.Alert, r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts read from sessaudit-rules.yml")
	}
}
