// Package faultfs wraps an afero.Fs so that tests and benchmarks can imitate
// a network filesystem such as EFS or NFS on one machine: every operation
// that a Rule matches can be delayed (a round trip), made to fail with an
// error such as syscall.EIO, syscall.ESTALE or syscall.EACCES, or made to
// stall until it is released (a hard-mounted server that stopped answering).
//
// Files opened through the wrapper are wrapped as well, so File.Readdir,
// File.Readdirnames and File.Stat are subject to the same rules. Readdir is
// charged one delay for the call and one more for every entry it returns,
// as the operating system lstats each entry to build its FileInfo.
//
// Every operation is counted, whether or not a rule matched it; Counts
// returns the totals so that a benchmark can report operations per walk.
//
// faultfs is a test instrument: it does not imitate caching, and afero has no
// context, so a stall ends only when its channel is closed or Release is
// called, never on cancellation.
package faultfs
