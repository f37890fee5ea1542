// Package report writes what the sessaudit commands print: the audit's
// report as text for a person, as one self-contained HTML page for a person
// who would rather look, or as JSON for a program, and scan's table
// and JSON lines. The rules that produce a report live in reconcile; this
// package only decides how it reads.
//
// Paths in JSON are lossless: "path" is the path with any bytes that are not
// valid UTF-8 replaced by U+FFFD, and "path_base64" (standard base64 of the
// exact bytes) is added only when the path is not valid UTF-8. In text,
// paths are Go-quoted, which escapes such bytes (\xff).
package report
