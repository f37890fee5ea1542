package reconcile

import (
	"strings"
	"testing"
	"time"

	"sessaudit/scanner"
)

// The live rule takes two measurements of a session that changed under
// the first for a session being written that stood only when the tree kept
// its directory and its directories, had a file written between the two,
// and is older than a copy: what a deletion, a paused deletion or an
// extraction in progress never shows.
func TestBeingWritten(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	id := scanner.Identity{Dev: 1, Ino: 7, Birth: 1}
	// A Chromium profile an hour old, written just now: the first
	// measurement saw a directory of it change, the second has one file
	// more.
	first := sample{
		usage: scanner.Usage{Size: 1000, Files: 10, Dirs: 4}, id: id,
		changed: "a directory in it had entries added or removed moments before or while it was measured",
		oldest:  t0.Add(-time.Hour), written: t0,
	}
	second := first
	second.usage.Size, second.usage.Files = 1200, 11
	second.written = t0.Add(2 * time.Second)
	tests := []struct {
		name   string
		change func(f, s *sample)
		want   string // "" verified; otherwise a part of why not
	}{
		{"being written", func(f, s *sample) {}, ""},
		{"quiet the second time, but written between", func(f, s *sample) { s.changed = "" }, ""},
		{"a file vanished under it", func(f, s *sample) { s.changed = "an entry vanished while it was measured" }, ""},
		{"replaced between the two", func(f, s *sample) { s.id.Ino = 8 }, "replaced between two measurements"},
		{"born again under the same inode", func(f, s *sample) { s.id.Birth = 2 }, "replaced between two measurements"},
		{"removed while measured", func(f, s *sample) {
			s.changed = "the session directory was removed while it was measured"
		}, "removed"},
		{"a directory vanished", func(f, s *sample) { f.changed = "a directory in it vanished while it was measured" }, "directory in it vanished"},
		{"a file kept being rewritten", func(f, s *sample) {
			s.changed = "a file in it kept being rewritten while it was measured"
		}, "rewritten"},
		{"lost a directory: being deleted", func(f, s *sample) { s.usage.Dirs = 3 }, "directories went from 4 to 3"},
		{"nothing written: a deletion that paused", func(f, s *sample) {
			s.usage.Size, s.usage.Files, s.written = 800, 8, f.written
		}, "no file written"},
		{"no file at all", func(f, s *sample) { s.written = time.Time{} }, "no file written"},
		{"extracted moments ago", func(f, s *sample) { s.oldest = s.written.Add(-10 * time.Second) }, "copied or extracted in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, s := first, second
			tc.change(&f, &s)
			got := beingWritten(f, s)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("beingWritten = %q, want %q", got, tc.want)
			}
		})
	}
}
