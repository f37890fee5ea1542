// Package beneath opens directories below a directory already open without
// following a symbolic link anywhere on the way and without crossing into
// another mounted filesystem: with openat2's RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS (Linux 5.6) where the kernel has it and no seccomp
// profile refuses it, else one path element at a time with
// openat(O_NOFOLLOW), each element's device compared with the first's.
//
// It holds the system calls only: the native walk (package scanner) and the
// watcher (package watch) decide what a refusal means to them.
package beneath
