// Package docs holds sessaudit's documentation, the pages the README links
// to, and the test that keeps their links working: every relative link of
// README.md and docs/*.md names a file of the repository, and every #anchor
// a heading or an <a id> of that file. It has no code.
package docs
