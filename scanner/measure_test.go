package scanner_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"sessaudit/scanner"
)

func TestMeasure(t *testing.T) {
	tr := tree{
		"workspace_1/session_a/creds.json":    "{}",
		"workspace_1/session_a/Default/Prefs": "0123456789",
		"workspace_1/session_empty/":          "",
		"workspace_1/session_file":            "not a directory",
		"workspace_2":                         "a file named like a workspace",
		"stray":                               "x",
	}
	abs := func(rel string) string { return filepath.Join(memRoot, rel) }
	tests := []struct {
		name    string
		root    string
		rel     string
		open    map[string]func() error
		want    result
		wantErr error // nil: Measure must succeed
	}{
		{
			name: "session",
			rel:  "workspace_1/session_a",
			// 2 files × (4096 + 2048) + 2 dirs × 2048
			want: result{Kind: scanner.KindSession, WS: 1, SID: "a",
				Usage: scanner.Usage{Size: 12, Allocated: 12, Metered: 16384, Files: 2, Dirs: 2}},
		},
		{
			name: "empty session",
			rel:  "workspace_1/session_empty",
			want: result{Kind: scanner.KindSession, WS: 1, SID: "empty", Usage: scanner.Usage{Metered: 2048, Dirs: 1}},
		},
		{
			name: "session that is a file",
			rel:  "workspace_1/session_file",
			want: result{Kind: scanner.KindUnrecognized, WS: 1, SID: "file"},
		},
		{
			name: "workspace that is a file",
			rel:  "workspace_2/session_a",
			want: result{Kind: scanner.KindUnrecognized, WS: 2, SID: "a"},
		},
		{name: "missing session", rel: "workspace_1/session_gone", wantErr: fs.ErrNotExist},
		{name: "missing workspace", rel: "workspace_9/session_a", wantErr: fs.ErrNotExist},
		{
			name:    "session removed between lstat and read",
			rel:     "workspace_1/session_a",
			open:    map[string]func() error{abs("workspace_1/session_a"): failWith(abs("workspace_1/session_a"), syscall.ENOENT)},
			wantErr: fs.ErrNotExist,
		},
		{
			name: "subdirectory cannot be read",
			rel:  "workspace_1/session_a",
			open: map[string]func() error{abs("workspace_1/session_a/Default"): failWith(abs("workspace_1/session_a/Default"), syscall.EACCES)},
			want: result{Kind: scanner.KindSession, WS: 1, SID: "a", Err: true},
		},
		{name: "missing root", root: "/nowhere", rel: "workspace_1/session_a", wantErr: fs.ErrNotExist},
		{name: "root is a file", root: memRoot + "/stray", rel: "workspace_1/session_a", wantErr: scanner.ErrRootNotDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.root
			if root == "" {
				root = memRoot
			}
			fsys := &faultFs{Fs: memTree(t, tr), open: tc.open}
			e, err := scanner.Measure(context.Background(), fsys, root, tc.rel, scanner.Config{})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Measure = %+v, %v; want an error wrapping %v", e, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if e.Path != tc.rel {
				t.Errorf("Path = %q, want %q", e.Path, tc.rel)
			}
			if e.Kind == scanner.KindUnrecognized && e.Reason == "" {
				t.Error("unrecognized entry without a reason")
			}
			if e.Err != nil && e.Usage != (scanner.Usage{}) {
				t.Errorf("Err %v with usage %+v", e.Err, e.Usage)
			}
			diff(t, summarize(map[string]scanner.Entry{tc.rel: e}), map[string]result{tc.rel: tc.want})
		})
	}
}

func TestMeasureBadPath(t *testing.T) {
	fsys := memTree(t, tree{"workspace_1/session_a/f": "x"})
	for _, rel := range []string{
		"", "workspace_1", "workspace_1/session_a/f", "workspace_1/../workspace_1/session_a",
		"/workspace_1/session_a", "workspace_01/session_a", "workspace_1/session_",
	} {
		t.Run(rel, func(t *testing.T) {
			e, err := scanner.Measure(context.Background(), fsys, memRoot, rel, scanner.Config{})
			if err == nil {
				t.Fatalf("Measure(%q) = %+v, want an error", rel, e)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Measure(%q) = %v: a malformed path is not a missing session", rel, err)
			}
		})
	}
}

func TestMeasureCancelled(t *testing.T) {
	fsys := memTree(t, tree{"workspace_1/session_a/d/f": "x"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		e, err := scanner.Measure(ctx, fsys, memRoot, "workspace_1/session_a", scanner.Config{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Measure = %+v, %v; want context.Canceled", e, err)
		}
	}
}
