// Package progress keeps a live status line on a terminal while a walk
// runs: workspaces and sessions done of the total, entries per second,
// bytes so far, elapsed and estimated time. It draws only when its output
// is a terminal, and clears the line when it stops, so nothing of it is
// left in a terminal's scrollback, a pipe, a file or a cron mail.
//
// It is a small piece of code rather than a progress-bar library: the
// line is one string refreshed from counters the scanner keeps, and the
// part that needs care, log lines written while it is shown, is a writer
// wrapper (Line.Writer) that no bar library offers for zerolog.
package progress
