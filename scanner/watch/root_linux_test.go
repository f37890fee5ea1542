package watch

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rootChanges records the calls of Config.RootChanged.
type rootChanges chan error

func (c rootChanges) wait(t *testing.T, lost bool) error {
	t.Helper()
	select {
	case err := <-c:
		if (err != nil) != lost {
			t.Fatalf("RootChanged(%v), want lost=%t", err, lost)
		}
		return err
	case <-time.After(patience):
		t.Fatalf("RootChanged was not called within %v (want lost=%t)", patience, lost)
	}
	return nil
}

// Issue 18, item 11: a watcher whose root was replaced or mounted again
// kept its watches on the old tree and never heard of the new one, not
// even after a rescan's Resync. It now tells (RootChanged), drops the old
// watches, and the next Resync watches the new tree.
func TestWatcherFollowsAReplacedRoot(t *testing.T) {
	changes := make(rootChanges, 16)
	h := newHarness(t, []string{"workspace_1/session_a"}, Config{RootCheck: 20 * time.Millisecond, RootChanged: func(err error) { changes <- err }})
	h.sync("workspace_1/session_a")

	// Renamed away: the root is gone until a new one is made.
	if err := os.Rename(h.root, h.root+".old"); err != nil {
		t.Fatal(err)
	}
	changes.wait(t, true)
	if n := h.w.Stats().Watches; n != 0 {
		t.Errorf("%d watches held with the root gone", n)
	}
	h.mkdirs("workspace_1/session_a", "workspace_2/session_b")
	changes.wait(t, false)
	h.resync()
	h.write("workspace_2/session_b/creds.json", "{}")
	h.waitKey("workspace_2/session_b")
	h.sync("workspace_1/session_a")
}

// The same when another filesystem is mounted over the root, and when it
// is unmounted again: the mount id tells, whatever the inode numbers.
func TestWatcherFollowsARootMountedAgain(t *testing.T) {
	changes := make(rootChanges, 16)
	h := newHarness(t, []string{"workspace_1/session_a"}, Config{RootCheck: 20 * time.Millisecond, RootChanged: func(err error) { changes <- err }})
	h.sync("workspace_1/session_a")
	if err := unix.Mount("tmpfs", h.root, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs over the root (the test needs root): %v", err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			_ = unix.Unmount(h.root, unix.MNT_DETACH)
		}
	})
	changes.wait(t, false)
	h.mkdirs("workspace_3/session_c")
	h.resync()
	h.write("workspace_3/session_c/creds.json", "{}")
	h.waitKey("workspace_3/session_c")

	// Lazily, as umount -l: the watcher holds the root open, so a plain
	// unmount is refused (EBUSY) until it lets go.
	if err := unix.Unmount(h.root, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	mounted = false
	changes.wait(t, false)
	h.resync()
	h.sync("workspace_1/session_a")
}
