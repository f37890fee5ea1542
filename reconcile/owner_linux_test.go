package reconcile_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
)

// readAsEnv, when set, makes the test binary reconcile the session
// workspace_1/session_a under the root it names as whatever user it runs
// as, print its verdicts as JSON lines and exit (see readAs).
const readAsEnv = "SESSAUDIT_TEST_READ_AS"

func TestMain(m *testing.M) {
	if root := os.Getenv(readAsEnv); root != "" {
		os.Exit(readAs(root))
	}
	os.Exit(m.Run())
}

// readAs reconciles workspace_1/session_a under root, without writing, and
// prints each verdict's Finding as a JSON line.
func readAs(root string) int {
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	r := reconcile.NewReconciler(afero.NewOsFs(), store, reconcile.Config{Root: root, PathPrefix: "/mnt/efs", DryRun: true})
	res, err := r.Reconcile(context.Background(), "workspace_1/session_a")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	enc := json.NewEncoder(os.Stdout)
	for _, v := range res.Verdicts {
		if err := enc.Encode(v.Finding); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	return 0
}

// The instance's user and group in TestChromiumSessionReadableOnlyByItsUser.
const instanceUID, instanceGID = 1000, 1000

// chromiumSession writes a session directory as Chromium (whatsapp-web.js's
// LocalAuth) leaves it: owned by the instance's user, directories 0700 and
// files 0600, under workspace directories anyone may enter, in a root
// anyone may reach, all dated a day ago (a settled session). It returns the
// root and the sum of the files' sizes.
func chromiumSession(t *testing.T) (string, int64) {
	t.Helper()
	root := t.TempDir()
	reachable(t, root)
	files := map[string]string{
		"Default/Preferences":                                                  `{"profile":{}}`,
		"Default/Local Storage/leveldb/000005.ldb":                             strings.Repeat("l", 700),
		"Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/CURRENT": "MANIFEST-000001\n",
		"Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.blob/1/00/1":     strings.Repeat("b", 3000),
	}
	session := filepath.Join(root, "workspace_1", "session_a")
	var total int64
	for rel, content := range files {
		p := filepath.Join(session, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		total += int64(len(content))
	}
	old := time.Now().Add(-24 * time.Hour)
	err := filepath.Walk(filepath.Join(root, "workspace_1"), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, instanceUID, instanceGID); err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		switch {
		case p == filepath.Join(root, "workspace_1"):
			mode = 0o755 // made by the instance with mkdir -p, under its umask
		case fi.IsDir():
			mode = 0o700
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Dated after the modes are set: a chmod changes no mtime, but the
	// files written above did change their directories'.
	err = filepath.Walk(filepath.Join(root, "workspace_1"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	return root, total
}

// readableCopy copies the running test binary into a directory anyone may
// read, so that a process that is not root can execute it (go test builds
// it in a directory only root may enter).
func readableCopy(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	reachable(t, dir)
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	bin := filepath.Join(dir, "reconcile.test")
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// reachable lets every user reach dir: t.TempDir makes it, and the
// directory above it, 0700.
func reachable(t *testing.T, dir string) {
	t.Helper()
	for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// hasCapability reports whether this process has capability bit in its
// effective set.
func hasCapability(t *testing.T, bit uint) bool {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:\t"); ok {
			var eff uint64
			fmt.Sscanf(hex, "%x", &eff)
			return eff&(1<<bit) != 0
		}
	}
	return false
}

// TestChromiumSessionReadableOnlyByItsUser: a session Chromium wrote (0700
// directories, 0600 files) is verified, with its whole size, only by an
// audit running as the instance's own uid, or as root with
// CAP_DAC_READ_SEARCH; as another user in the instance's group it is
// unreadable (never missing, never a partial size), and so it is as root
// without capabilities, as the deploy/ manifests and units run (issue 17).
// The audit and the sidecar must therefore run as the instance's uid (see
// deploy/kubernetes/manifest_test.go for the manifests).
func TestChromiumSessionReadableOnlyByItsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to own files as another user and to run the audit as one (CI runs as root)")
	}
	root, total := chromiumSession(t)
	bin := readableCopy(t)
	setpriv, err := exec.LookPath("setpriv") // util-linux, Essential in Debian
	if err != nil {
		t.Fatalf("setpriv: %v", err)
	}
	cases := []struct {
		name   string
		cred   *syscall.Credential
		argv   []string // before the binary
		needs  uint     // a capability the parent must have, or 0
		kind   reconcile.Outcome
		detail string
	}{
		{name: "the instance's uid", cred: &syscall.Credential{Uid: instanceUID, Gid: instanceGID}, kind: reconcile.Verified},
		{name: "another user in the instance's group", cred: &syscall.Credential{Uid: instanceUID + 1, Gid: instanceGID, Groups: []uint32{instanceGID}},
			kind: reconcile.Unreadable, detail: "permission denied"},
		{name: "root with CAP_DAC_READ_SEARCH", needs: 2, kind: reconcile.Verified},
		{name: "root without capabilities", argv: []string{setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"},
			kind: reconcile.Unreadable, detail: "permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != 0 && !hasCapability(t, tc.needs) {
				t.Skipf("this process lacks capability %d", tc.needs)
			}
			argv := append(append([]string{}, tc.argv...), bin)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), readAsEnv+"="+root)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: tc.cred}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %v\n%s", argv, err, stderr.String())
			}
			var got []reconcile.Finding
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				var f reconcile.Finding
				if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
					t.Fatalf("%v: %s", err, sc.Text())
				}
				got = append(got, f)
			}
			if len(got) != 1 || got[0].Kind != tc.kind {
				t.Fatalf("verdicts %+v, want one %s", got, tc.kind)
			}
			f := got[0]
			switch tc.kind {
			case reconcile.Verified:
				if f.SizeBytes == nil || *f.SizeBytes < total {
					t.Errorf("verified with size %v, want the whole session (at least the %d bytes of its files)", f.SizeBytes, total)
				}
			default:
				if f.SizeBytes != nil || !strings.Contains(f.Detail, tc.detail) {
					t.Errorf("%s with size %v and detail %q, want no size and %q", f.Kind, f.SizeBytes, f.Detail, tc.detail)
				}
			}
		})
	}
}
