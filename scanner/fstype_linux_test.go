package scanner

import (
	"runtime"
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name  string
		magic uint32
		want  fsKind
	}{
		{"nfs", magicNFS, fsKind{remote: true, trustIno: true}},
		{"fuse", magicFUSE, fsKind{remote: true}},
		{"cifs", magicCIFS, fsKind{remote: true}},
		{"smb2", magicSMB2, fsKind{remote: true}},
		{"9p", magic9P, fsKind{remote: true}},
		{"ceph", magicCeph, fsKind{remote: true}},
		{"ext4", magicExt4, fsKind{trustIno: true}},
		{"xfs", magicXFS, fsKind{trustIno: true}},
		{"tmpfs", magicTmpfs, fsKind{trustIno: true}},
		{"overlay", magicOverlay, fsKind{}},
		{"unknown", 0x12345678, fsKind{remote: true}},
	}
	for _, tc := range tests {
		if got := kindOf(tc.magic); got != tc.want {
			t.Errorf("%s: kindOf(%#x) = %+v, want %+v", tc.name, tc.magic, got, tc.want)
		}
	}
}

func TestWorkers(t *testing.T) {
	cpus := runtime.GOMAXPROCS(0)
	tests := []struct {
		cfg    Config
		remote bool
		want   int
	}{
		{Config{}, false, localWorkersPerCPU * cpus},
		{Config{}, true, remoteWorkers},
		{Config{Workers: 3}, true, 3},
		{Config{Workers: 3}, false, 3},
		{Config{Workers: -1}, true, remoteWorkers},
	}
	for _, tc := range tests {
		if got := tc.cfg.workers(tc.remote); got != tc.want {
			t.Errorf("Config{Workers: %d}.workers(remote %t) = %d, want %d", tc.cfg.Workers, tc.remote, got, tc.want)
		}
	}
}
