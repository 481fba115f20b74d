//go:build !linux

package netnstest

import "testing"

// InNetns skips t (fails it under CI=true) outside Linux: network
// namespaces are Linux only.
func InNetns(t testing.TB, name string, fn func()) {
	t.Helper()
	skipOrFail(t, "skipping: network namespaces are linux only")
}
