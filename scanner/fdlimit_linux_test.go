package scanner_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"sessaudit/scanner"
)

// fdChildEnv names the tree a child test process walks under a low limit of
// descriptors.
const fdChildEnv = "SESSAUDIT_TEST_FD_CHILD_ROOT"

// fdLimit is the descriptor limit of the child: a tight container's.
const fdLimit = 64

// TestOsFewDescriptors walks many sessions of deep directories with only
// fdLimit descriptors allowed, with the default workers and with 128: no
// session may come out unreadable for want of a descriptor (EMFILE). The
// limit is process-wide, so the walk runs in a child process: this test
// binary again, with the limit lowered at its start.
func TestOsFewDescriptors(t *testing.T) {
	if root := os.Getenv(fdChildEnv); root != "" {
		fewDescriptorsChild(t, root)
		return
	}
	tr := tree{}
	for ws := 1; ws <= 12; ws++ {
		for s := 1; s <= 6; s++ {
			deep := ""
			for d := 0; d < 12; d++ {
				deep += fmt.Sprintf("d%d/", d)
				tr[fmt.Sprintf("workspace_%d/session_%d/%sf", ws, s, deep)] = "x"
				tr[fmt.Sprintf("workspace_%d/session_%d/%sside/g", ws, s, deep)] = "y"
			}
		}
	}
	root := osTree(t, tr)
	cmd := exec.Command(os.Args[0], "-test.run=^TestOsFewDescriptors$", "-test.v")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+root)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child walk under %d descriptors: %v\n%s", fdLimit, err, out)
	}
}

func fewDescriptorsChild(t *testing.T, root string) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = fdLimit
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	for _, impl := range osImpls {
		for _, workers := range []int{0, 128} {
			t.Run(fmt.Sprintf("%s/workers=%d", impl.name, workers), func(t *testing.T) {
				fsys, cfg := impl.fs(t, faults{}, scanner.Config{Workers: workers})
				entries := walk(t, fsys, root, cfg)
				var bad []string
				n := 0
				for p, e := range entries {
					switch {
					case e.Kind != scanner.KindSession:
						bad = append(bad, fmt.Sprintf("%s: kind %d %v", p, e.Kind, e.Err))
					case e.Err != nil || e.Usage.Files != 24:
						bad = append(bad, fmt.Sprintf("%s: %v, %d files", p, e.Err, e.Usage.Files))
					default:
						n++
					}
				}
				if n != 72 || len(bad) > 0 {
					t.Errorf("%d of 72 sessions measured; %d wrong, such as %q", n, len(bad), bad[:min(len(bad), 3)])
				}
			})
		}
	}
}
