package docs

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeFrontDoor: the README stays a front door (at most 500 lines;
// reference goes to docs/), and its two commands are the ones CI runs.
func TestReadmeFrontDoor(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(readme), "\n"); n > 500 {
		t.Errorf("README.md has %d lines: at most 500; move reference to docs/", n)
	}
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"go run ./cmd/sessaudit-demo", "go test ./..."} {
		if !strings.Contains(string(readme), cmd) {
			t.Errorf("README.md does not give %q", cmd)
		}
		if !strings.Contains(string(ci), cmd) {
			t.Errorf(".ci/run does not run the README's %q", cmd)
		}
	}
}
