package systemd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sysusersUser returns the name and the id field of the u line of
// sessaudit.sysusers.
func sysusersUser(t *testing.T) (name, id string) {
	t.Helper()
	b, err := os.ReadFile("sessaudit.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "u" {
			if name != "" {
				t.Fatalf("sessaudit.sysusers has two u lines: %q and %q", name, f[1])
			}
			name, id = f[1], f[2]
		}
	}
	if name == "" {
		t.Fatal("sessaudit.sysusers creates no user (no u line)")
	}
	return name, id
}

// TestSysusersCreatesTheUnitsUser: the sysusers.d file creates the user
// every unit runs as (issue 20: the install assumed it existed).
func TestSysusersCreatesTheUnitsUser(t *testing.T) {
	name, _ := sysusersUser(t)
	for _, unit := range []string{"sessaudit.service", "sessaudit-reclaim.service", "sessaudit-purge.service"} {
		if got := directives(t, unit)["User"]; !slices.Equal(got, []string{name}) {
			t.Errorf("%s: User=%q, sessaudit.sysusers creates %q", unit, got, name)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("deploy/systemd/sessaudit.sysusers")) {
		t.Error("docs/deploy.md does not install deploy/systemd/sessaudit.sysusers")
	}
}

// TestSysusersApplies runs systemd-sysusers on the file in a scratch root:
// on a host without the user it creates the user and its group with the
// uid and gid the file names, with no login shell; on a host where the
// user exists it changes nothing. CI installs systemd (.ci/deploy).
func TestSysusersApplies(t *testing.T) {
	bin, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-sysusers is not installed; .ci/deploy installs systemd")
		}
		t.Skip("systemd-sysusers not installed (apt-get install systemd); CI runs this test")
	}
	name, id := sysusersUser(t)
	uid, _, _ := strings.Cut(id, ":")
	conf, err := os.ReadFile("sessaudit.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	apply := func(passwd, group string) (string, string) {
		t.Helper()
		root := t.TempDir()
		etc := filepath.Join(root, "etc")
		if err := os.Mkdir(etc, 0o755); err != nil {
			t.Fatal(err)
		}
		for file, text := range map[string]string{"passwd": passwd, "group": group} {
			if err := os.WriteFile(filepath.Join(etc, file), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(bin, "--root", root, "-")
		cmd.Stdin = bytes.NewReader(conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("systemd-sysusers: %v\n%s", err, out)
		}
		p, err := os.ReadFile(filepath.Join(etc, "passwd"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(etc, "group"))
		if err != nil {
			t.Fatal(err)
		}
		return string(p), string(g)
	}

	passwd, group := apply("root:x:0:0:root:/root:/bin/bash\n", "root:x:0:\n")
	want := name + ":x:" + uid + ":" + uid + ":"
	if !strings.Contains(passwd, "\n"+want) || !strings.Contains(passwd, ":/usr/sbin/nologin\n") {
		t.Errorf("created passwd:\n%s\nwant a line %s... with no login shell", passwd, want)
	}
	if !strings.Contains(group, "\n"+name+":x:"+uid+":") {
		t.Errorf("created group:\n%s\nwant %s with gid %s", group, name, uid)
	}

	existing := "root:x:0:0:root:/root:/bin/bash\n" + name + ":x:1234:1234::/home/" + name + ":/bin/bash\n"
	existingGroup := "root:x:0:\n" + name + ":x:1234:\n"
	if passwd, group := apply(existing, existingGroup); passwd != existing || group != existingGroup {
		t.Errorf("an existing %s was changed:\npasswd\n%s\ngroup\n%s", name, passwd, group)
	}
}
