package scanner

import (
	"errors"
	"testing"
)

func TestScopeContains(t *testing.T) {
	tests := []struct {
		name  string
		scope Scope
		in    []uint64
		out   []uint64
		all   bool
		str   string
	}{
		{name: "zero value", scope: Scope{}, in: []uint64{0, 1, 7, 1 << 63}, all: true, str: "all workspaces"},
		{name: "all", scope: AllWorkspaces(), in: []uint64{0, 3}, all: true, str: "all workspaces"},
		{name: "empty list covers none", scope: OnlyWorkspaces(), out: []uint64{0, 1, 2}, str: "no workspace"},
		{name: "list", scope: OnlyWorkspaces(7, 2, 7), in: []uint64{2, 7}, out: []uint64{0, 3, 8}, str: "workspaces 2, 7"},
		{name: "one", scope: OnlyWorkspaces(12), in: []uint64{12}, out: []uint64{1, 2}, str: "workspace 12"},
		{name: "shard", scope: AllWorkspaces().InShard(Shard{1, 3}), in: []uint64{1, 4, 7}, out: []uint64{0, 2, 3, 5}, str: "shard 1/3"},
		{name: "list in shard", scope: OnlyWorkspaces(1, 2, 4).InShard(Shard{1, 3}), in: []uint64{1, 4}, out: []uint64{2, 7}, str: "workspaces 1, 2, 4 in shard 1/3"},
		{name: "shard of one", scope: AllWorkspaces().InShard(Shard{0, 1}), in: []uint64{0, 1, 99}, str: "shard 0/1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, ws := range tc.in {
				if !tc.scope.Contains(ws) {
					t.Errorf("Contains(%d) = false, want true", ws)
				}
			}
			for _, ws := range tc.out {
				if tc.scope.Contains(ws) {
					t.Errorf("Contains(%d) = true, want false", ws)
				}
			}
			if got := tc.scope.IsAll(); got != tc.all {
				t.Errorf("IsAll() = %v, want %v", got, tc.all)
			}
			if got := tc.scope.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
		})
	}
}

func TestScopeListed(t *testing.T) {
	ids, ok := OnlyWorkspaces(4, 1, 2).InShard(Shard{1, 3}).Listed()
	if !ok || len(ids) != 2 || ids[0] != 1 || ids[1] != 4 {
		t.Errorf("Listed() = %v, %v; want [1 4], true", ids, ok)
	}
	if _, ok := AllWorkspaces().InShard(Shard{0, 2}).Listed(); ok {
		t.Error("a shard without a list reports itself listed")
	}
}

func TestParseShard(t *testing.T) {
	good := map[string]Shard{"0/1": {0, 1}, "2/3": {2, 3}, "7/8": {7, 8}}
	for in, want := range good {
		got, err := ParseShard(in)
		if err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1", "3/3", "1/0", "-1/2", "a/b", "1/2/3", " 1/2", "1/ 2", "18446744073709551616/2"} {
		if _, err := ParseShard(in); !errors.Is(err, ErrBadShard) {
			t.Errorf("ParseShard(%q) error = %v, want ErrBadShard", in, err)
		}
	}
}
