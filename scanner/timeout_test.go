package scanner_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner"
	"sessaudit/scanner/faultfs"
)

// A directory read that never answers is bounded by IOTimeout: its session
// gets an error wrapping ErrIOTimeout and every other session is measured.
func TestWalkIOTimeout(t *testing.T) {
	base := afero.NewMemMapFs()
	for _, p := range []string{"/r/workspace_1/session_a/f", "/r/workspace_1/session_b/Default/f", "/r/workspace_2/session_c/f"} {
		if err := afero.WriteFile(base, p, []byte("xy"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, stall string
		want        map[string]string // path → "ok" or "timeout"
	}{
		{"inside a session", "session_b/Default", map[string]string{
			"workspace_1/session_a": "ok", "workspace_1/session_b": "timeout", "workspace_2/session_c": "ok"}},
		{"a workspace", "/r/workspace_2", map[string]string{
			"workspace_1/session_a": "ok", "workspace_1/session_b": "ok", "workspace_2": "timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := faultfs.New(base, faultfs.Rule{Path: tc.stall, Ops: faultfs.OpOpen, Stall: make(chan struct{})})
			t.Cleanup(fsys.Release)
			diffStrings(t, timeoutOutcomes(t, fsys, "/r", scanner.Config{IOTimeout: 50 * time.Millisecond}), tc.want)
		})
	}
}

// Cancelling a walk stuck in a read returns promptly.
func TestWalkCancelWhileStalled(t *testing.T) {
	base := afero.NewMemMapFs()
	if err := afero.WriteFile(base, "/r/workspace_1/session_a/f", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys := faultfs.New(base, faultfs.Rule{Path: "session_a", Ops: faultfs.OpOpen, Stall: make(chan struct{})})
	t.Cleanup(fsys.Release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for fsys.Counts().Waiting == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	err := scanner.Walk(ctx, fsys, "/r", scanner.Config{IOTimeout: -1}, func(scanner.Entry) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stop took %v", d)
	}
}
