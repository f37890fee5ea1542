package scanner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/afero"
)

// ErrNotSessionDir reports a session path that names something other than a
// real directory, such as a symbolic link, or that passes through one.
var ErrNotSessionDir = errors.New("scanner: not a real directory")

// lstatSession looks at the workspace directory and then the session
// directory of rel, so that a workspace replaced by a link is never passed
// through.
func lstatSession(ctx context.Context, fsys afero.Fs, root, rel string, b bounds) (os.FileInfo, error) {
	return bounded(ctx, b, 2, func() (os.FileInfo, error) { return lstatSessionNow(fsys, root, rel) })
}

func lstatSessionNow(fsys afero.Fs, root, rel string) (os.FileInfo, error) {
	ws, _, ok := ParseSessionPath(rel)
	if !ok {
		return nil, fmt.Errorf("check %q: %w", rel, ErrNotSessionDir)
	}
	wsRel := WorkspaceName(ws)
	fi, err := lstat(fsys, filepath.Join(root, wsRel))
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", wsRel, err)
	}
	if reason := notDir(fi.Mode()); reason != "" {
		return nil, fmt.Errorf("check %s: %w: its workspace is %s", rel, ErrNotSessionDir, reason)
	}
	fi, err = lstat(fsys, filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", rel, err)
	}
	if reason := notDir(fi.Mode()); reason != "" {
		return nil, fmt.Errorf("check %s: %w: %s", rel, ErrNotSessionDir, reason)
	}
	return fi, nil
}

// CheckRoot confirms that root exists and is a directory. The root itself
// may be a symbolic link chosen by the operator; nothing below it is
// followed.
func CheckRoot(ctx context.Context, fsys afero.Fs, root string, cfg Config) error {
	fi, err := bounded(ctx, cfg.bounds(), 1, func() (os.FileInfo, error) { return fsys.Stat(root) })
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s", ErrRootNotDir, root)
	}
	return nil
}

// WorkspaceIDs lists the root and returns the ids of the entries named like
// workspace directories (workspace_<id>), without looking at any of them:
// what the root holds, whatever the scope, for judging whether the share is
// mounted there. The listing is bounded by cfg's IOTimeout.
func WorkspaceIDs(ctx context.Context, fsys afero.Fs, root string, cfg Config) (map[uint64]bool, error) {
	// An open and a read (more reads for a root of many entries).
	names, err := bounded(ctx, cfg.bounds(), 2, func() ([]string, error) {
		f, err := fsys.Open(root)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.Readdirnames(-1)
	})
	if err != nil {
		return nil, fmt.Errorf("list root %s: %w", root, err)
	}
	ids := make(map[uint64]bool)
	for _, name := range names {
		if id, ok := ParseWorkspace(name); ok {
			ids[id] = true
		}
	}
	return ids, nil
}
