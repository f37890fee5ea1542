package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The command line the demo prints can be pasted: a shell reads it back as
// the very same words (defect 12 of issue 9: the DSN's parentheses were not
// quoted).
func TestShellJoinPastes(t *testing.T) {
	args := []string{"audit", "--root", "/tmp/sessaudit-demo-1/share", "--dsn", "root@tcp(127.0.0.1:40123)/sessaudit_demo",
		"--x", "it's", "--y", "", "--z", "a b;$(echo no)`x`*"}
	line := shellJoin(args)
	got, err := exec.Command("sh", "-c", "printf '%s\\0' "+line).Output()
	if err != nil {
		t.Fatalf("sh rejects %s: %v", line, err)
	}
	words := strings.Split(strings.TrimSuffix(string(got), "\x00"), "\x00")
	if !slices.Equal(words, args) {
		t.Errorf("%s\nreads back as %q\nwant %q", line, words, args)
	}
	if !strings.Contains(line, "'root@tcp(127.0.0.1:40123)/sessaudit_demo'") {
		t.Errorf("DSN not single-quoted: %s", line)
	}
}
