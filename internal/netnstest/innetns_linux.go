package netnstest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// InNetns runs fn on an OS thread switched into the named network namespace
// (as `ip netns` names it), so that sockets fn creates belong to it; they
// stay there whatever thread uses them afterwards. It returns when fn has.
// The thread is switched back, or discarded when that fails.
func InNetns(t testing.TB, name string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			t.Errorf("opening this thread's netns: %v", err)
			return // the thread stays locked and exits with the goroutine
		}
		defer self.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", name))
		if err != nil {
			t.Errorf("opening netns %s: %v", name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("entering netns %s: %v", name, err)
			return
		}
		fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("leaving netns %s: %v", name, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
}
