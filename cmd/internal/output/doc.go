// Package output opens where a command's report (--output) or metrics
// (--metrics-file) go before the command does anything, and writes them
// there at the end.
//
// The rules: "-" (or no name) is standard output. A new path or an existing
// regular file is replaced atomically: a temporary file is created in the
// same directory up front, space is reserved in it, and at the end it is
// written and renamed over the name, so readers see the old file or the
// whole new one. Anything else is written straight into, never replaced: a
// symbolic link is written through to what it points to (the link stays), a
// device such as /dev/null or /dev/stdout, a FIFO. Those are opened up front
// (a FIFO must have its reader by then: one that no process reads is
// refused, not waited for) and, if they are regular files,
// truncated only when the report is written. A directory, a dangling link or
// a destination that cannot be created or opened is refused up front.
package output
