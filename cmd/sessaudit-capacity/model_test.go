package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPredictLatencyBound(t *testing.T) {
	// 1,000,000 ops; 4 pods × 64 in flight at 2 ms make 128,000 a second:
	// 7.8125 s.
	m := Model{Entries: 500_000, OpsPerEntry: 2, Latency: 2 * time.Millisecond, Pods: 4, Workers: 64}
	p, err := m.Predict()
	if err != nil {
		t.Fatal(err)
	}
	if p.Ops != 1_000_000 || p.Throughput != 128_000 || p.Bound != "latency" {
		t.Errorf("got %+v, want 1e6 ops at 128000/s bound by latency", p)
	}
	if want := 7812500 * time.Microsecond; p.Wall != want {
		t.Errorf("wall = %v, want %v", p.Wall, want)
	}
}

func TestPredictIOPSBound(t *testing.T) {
	// 16 pods × 128 in flight at 1 ms ask 2,048,000 a second; the file
	// system serves 35,000: 500,000,000 ops take 14,286 s.
	m := Model{Entries: 500_000_000, OpsPerEntry: 1, Latency: time.Millisecond, Pods: 16, Workers: 128, IOPS: 35_000}
	p, err := m.Predict()
	if err != nil {
		t.Fatal(err)
	}
	if p.Throughput != 35_000 || p.Bound != "iops" {
		t.Errorf("got %+v, want 35000/s bound by iops", p)
	}
	if got, want := p.Wall.Seconds(), 500_000_000.0/35_000; got < want-0.001 || got > want+0.001 {
		t.Errorf("wall = %v s, want %v s", got, want)
	}
	// Below the ceiling more pods are proportionally faster.
	m.Pods, m.IOPS = 1, 1e9
	one, _ := m.Predict()
	m.Pods = 4
	four, _ := m.Predict()
	if one.Wall != 4*four.Wall {
		t.Errorf("1 pod %v, 4 pods %v: want 4× faster", one.Wall, four.Wall)
	}
}

func TestPredictCriticalBound(t *testing.T) {
	// 100 ops over 100 in flight take one latency, but a chain of 50
	// takes 50.
	m := Model{Entries: 100, OpsPerEntry: 1, Latency: time.Millisecond, Pods: 1, Workers: 100, Critical: 50}
	p, err := m.Predict()
	if err != nil {
		t.Fatal(err)
	}
	if p.Wall != 50*time.Millisecond || p.Bound != "critical" {
		t.Errorf("got %+v, want 50ms bound by the critical chain", p)
	}
	if p.WallMax != 51*time.Millisecond {
		t.Errorf("wall max = %v, want the chain plus the spread ops: 51ms", p.WallMax)
	}
	m.Critical = 0
	if p, _ := m.Predict(); p.WallMax != p.Wall {
		t.Errorf("without a chain wall max %v != wall %v", p.WallMax, p.Wall)
	}
}

func TestPredictRefusesBadModels(t *testing.T) {
	good := Model{Entries: 1, OpsPerEntry: 1, Latency: time.Millisecond, Pods: 1, Workers: 1}
	for name, change := range map[string]func(*Model){
		"no entries":        func(m *Model) { m.Entries = 0 },
		"no ops":            func(m *Model) { m.OpsPerEntry = 0 },
		"no latency":        func(m *Model) { m.Latency = 0 },
		"no pods":           func(m *Model) { m.Pods = 0 },
		"no workers":        func(m *Model) { m.Workers = -1 },
		"negative critical": func(m *Model) { m.Critical = -1 },
	} {
		m := good
		change(&m)
		if _, err := m.Predict(); !errors.Is(err, errModel) {
			t.Errorf("%s: err = %v, want errModel", name, err)
		}
	}
}

func TestPredictCommandTable(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"predict", "-entries", "500000000", "-ops-per-entry", "1", "-latency", "1ms",
		"-workers", "128", "-pods", "1,4,16", "-iops", "35000"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	// 1 pod: 128,000/s is above the ceiling, so every row is bound by it.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header, a rule and 3 rows, got:\n%s", out.String())
	}
	for _, l := range lines[2:] {
		if !strings.Contains(l, "| 35000 | iops | 3h58m |") {
			t.Errorf("row %q: want 35000/s, iops, 3h58m", l)
		}
	}
}

func TestCommandsRefuseBadInput(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nope"},
		{"predict", "-ops-per-entry", "1", "-pods", "1,x"},
		{"predict", "-ops-per-entry", "0"},
		{"predict", "-ops-per-entry", "1", "-format", "xml"},
		{"count"},
		{"probe"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code == 0 {
			t.Errorf("%q: exit 0, want an error", args)
		} else if strings.Contains(errOut.String(), "panic") {
			t.Errorf("%q: %s", args, errOut.String())
		}
	}
}

func TestCountOnATree(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "workspace_1", "session_2", "Default")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"count", "-root", root}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	// The session's entries: itself, Default and its 3 files.
	for _, want := range []string{`"sessions":1`, `"entries":5`, `"files":3`, `"max_dir_entries":3`,
		// root (1 entry) + workspace_1 (1) + session_2 (1) + Default (3), +1 each.
		`"max_chain":10`,
		// The walk: the mount check, the root, the workspace, the session
		// and Default opened and listed, 3 lstats; the second look at the
		// session adds its calls.
		`"walk_ops":`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("count printed %s, want %s", out.String(), want)
		}
	}
}

func TestProbeLstatsADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"probe", "-dir", dir, "-workers", "2", "-for", "10ms"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), `"workers":2`) || strings.Contains(out.String(), `"calls":0,`) ||
		!strings.Contains(out.String(), `"list_entries":1,`) {
		t.Errorf("probe printed %s, want 2 workers and some calls", out.String())
	}
	// A directory with nothing to lstat is refused.
	if code := run([]string{"probe", "-dir", t.TempDir()}, &out, &errOut); code != 1 {
		t.Errorf("empty directory: exit %d, want 1", code)
	}
}

func TestPredictCPUBound(t *testing.T) {
	// 2 pods × 128 in flight at 1 ms ask 256,000 a second; at 50 µs of
	// CPU each, one core a pod gives 2 × 20,000.
	m := Model{Entries: 400_000, OpsPerEntry: 1, Latency: time.Millisecond, Pods: 2, Workers: 128,
		CPUPerOp: 50 * time.Microsecond, Cores: 1}
	p, err := m.Predict()
	if err != nil {
		t.Fatal(err)
	}
	if p.Throughput != 40_000 || p.Bound != "cpu" {
		t.Errorf("got %+v, want 40000/s bound by cpu", p)
	}
	if got := p.Wall.Seconds(); got < 9.999 || got > 10.001 {
		t.Errorf("wall = %v s, want 10 s", got)
	}
	m.Cores = 0
	if _, err := m.Predict(); !errors.Is(err, errModel) {
		t.Errorf("CPU per op without cores: err = %v, want errModel", err)
	}
}
