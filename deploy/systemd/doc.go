// Package systemd holds no code: its directory has sessaudit's systemd
// units (the nightly audit and its timer), and its test checks the user the
// audit runs as. .ci/deploy checks the units with systemd-analyze verify.
package systemd
