package scanner_test

import (
	"testing"

	"sessaudit/scanner"
)

// Every implementation counts the same anatomy: the native walk with its
// listing split among idle workers (300 key files) and trusted d_type, with
// lstat of every directory, with openat alone, and afero on the host.
func TestWalkAnatomyOs(t *testing.T) {
	forEachOS(t, func(t *testing.T, impl osImpl) {
		for _, c := range anatomyCases() {
			t.Run(c.name, func(t *testing.T) {
				root := osTree(t, sessionTree(c))
				fsys, cfg := impl.fs(t, faults{}, scanner.Config{Workers: 4})
				checkAnatomy(t, walk(t, fsys, root, cfg), c)
			})
		}
	})
}
