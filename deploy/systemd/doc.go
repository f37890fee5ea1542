// Package systemd holds no code: its directory has sessaudit's systemd
// units (the nightly audit and its timer, reclaim, purge) and the
// sysusers.d entry of their user, and its tests check the user the units
// run as. .ci/deploy checks the units with systemd-analyze verify.
package systemd
