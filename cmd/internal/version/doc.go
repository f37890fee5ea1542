// Package version tells which build of sessaudit is running: the module
// version and the VCS revision the Go toolchain stamped into the binary.
package version
