// Package netnstest gates tests that need root, network namespaces or
// Debian peers (FRR, BIRD). Outside CI they skip with a clear message; with
// CI=true they fail, so a misconfigured runner cannot pass by skipping.
// Tests that use it carry "Netns" or "Root" in their name so that
// `make test-root` (go test -run 'Root|Netns|Lab') selects them.
package netnstest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/edgesim/edgesim/netlab"
)

// SkipMsg is the message of a root skip.
const SkipMsg = "skipping: needs root for netns (run: make test-root)"

func inCI() bool { return os.Getenv("CI") == "true" }

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if inCI() {
		t.Fatal(msg + " (CI=true: failing instead of skipping)")
	}
	t.Skip(msg)
}

// RequireRoot skips t (fails it under CI=true) unless running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, SkipMsg)
	}
}

// RequireBinary skips t (fails it under CI=true) unless name is on PATH or
// is an existing absolute path.
func RequireBinary(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		skipOrFail(t, "skipping: needs "+name+" (run: make deps)")
	}
}

// Run requires root, builds an empty netlab.Lab for fn and tears it down
// afterwards, even when fn fails; the lab directory is kept (and its path
// logged) when the test failed.
func Run(t *testing.T, fn func(t *testing.T, lab *netlab.Lab)) {
	t.Helper()
	RequireRoot(t)
	lab, err := netlab.New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lab files kept in %s", lab.Dir)
		}
		if err := lab.Close(t.Failed()); err != nil {
			t.Errorf("closing lab: %v", err)
		}
	})
	fn(t, lab)
}
