//go:build !linux

package watch

func isNoSpace(err error) bool { return false }
