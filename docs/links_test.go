package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	link     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	explicit = regexp.MustCompile(`<a id="([^"]+)"`)
	heading  = regexp.MustCompile("^#{1,6} (.+)$")
)

// pages are the Markdown files whose links are checked, relative to the
// repository's root.
func pages(t *testing.T) []string {
	t.Helper()
	found, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	for _, f := range found {
		files = append(files, "docs/"+f)
	}
	return files
}

// slug is the anchor GitHub gives a heading: lower case, punctuation other
// than - and _ dropped, spaces as -.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors lists the anchors of a Markdown file: its headings' slugs (with
// GitHub's -1, -2 for repeats) and its explicit <a id>s. Code blocks hold
// no headings.
func anchors(text string) map[string]bool {
	got := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		for _, m := range explicit.FindAllStringSubmatch(line, -1) {
			got[m[1]] = true
		}
		if m := heading.FindStringSubmatch(line); m != nil && !fence {
			s := slug(m[1])
			if n := seen[s]; n > 0 {
				got[s+"-"+strconv.Itoa(n)] = true
			} else {
				got[s] = true
			}
			seen[s]++
		}
	}
	return got
}

// TestLinks follows every relative link of README.md and docs/*.md: the
// file must exist in the repository and the anchor must be one of its
// headings or <a id>s, so that moving text between pages cannot leave a
// link behind.
func TestLinks(t *testing.T) {
	root := ".."
	for _, page := range pages(t) {
		text, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		fence := false
		for n, line := range strings.Split(string(text), "\n") {
			if strings.HasPrefix(line, "```") {
				fence = !fence
			}
			if fence {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := page
				if file != "" {
					path = filepath.Join(filepath.Dir(page), file)
				}
				body, err := os.ReadFile(filepath.Join(root, path))
				if err != nil {
					if fi, serr := os.Stat(filepath.Join(root, path)); serr == nil && fi.IsDir() && anchor == "" {
						continue
					}
					t.Errorf("%s:%d: link %s: %v", page, n+1, target, err)
					continue
				}
				if anchor != "" && !anchors(string(body))[anchor] {
					t.Errorf("%s:%d: link %s: %s has no anchor %q", page, n+1, target, path, anchor)
				}
			}
		}
	}
}
