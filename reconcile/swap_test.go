package reconcile_test

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
)

// swapFs replaces a session directory with a symbolic link to another one
// when it is looked at by name for the second time: the first look is the
// mount check before the walk, the second the look after the walk, the
// moment between classification and write.
type swapFs struct {
	afero.Fs
	session, elsewhere string
	looks              atomic.Int32
	once               sync.Once
	err                error
}

func (s *swapFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	if name == s.session && s.looks.Add(1) == 2 {
		s.once.Do(func() {
			if s.err = os.Rename(s.session, s.session+".moved"); s.err == nil {
				s.err = os.Symlink(s.elsewhere, s.session)
			}
		})
	}
	return s.Fs.(afero.Lstater).LstatIfPossible(name)
}

// swapShare writes two sessions in a temporary root and returns it with a
// swapFs that replaces workspace_1/session_a by a link to the other.
func swapShare(t *testing.T) (string, *swapFs) {
	t.Helper()
	dir := t.TempDir()
	for p, content := range map[string]string{
		"workspace_1/session_a/creds.json": "12345",
		"workspace_2/session_big/f":        "0123456789012345678901234567890123456789",
	} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsys := &swapFs{Fs: afero.NewOsFs(), session: filepath.Join(dir, "workspace_1/session_a"),
		elsewhere: filepath.Join(dir, "workspace_2/session_big")}
	return dir, fsys
}

func TestAuditDoesNotWriteThroughASwappedLink(t *testing.T) {
	dir, fsys := swapShare(t)
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	rep := audit(t, fsys, store, func(c *reconcile.Config) { c.Root = dir })
	if fsys.err != nil {
		t.Fatalf("swap: %v", fsys.err)
	}
	if len(store.written) != 0 {
		t.Fatalf("wrote %v through a directory swapped for a link", store.written)
	}
	got := outcomes(rep)
	want := []string{"orphan workspace_2/session_big []", "unsafe_path workspace_1/session_a [1]"}
	if !slices.Equal(got, want) {
		t.Fatalf("findings %q, want %q", got, want)
	}
}
