package registry

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDeps keeps registry a leaf of the control plane: it is used by the API
// but must not depend on it, on storage or on the data plane.
func TestDeps(t *testing.T) {
	t.Parallel()
	const mod = "github.com/edgesim/edgesim/"
	bad := map[string]string{
		mod + "api":   "registry answers the API; importing it would be a cycle",
		mod + "store": "registry reads public sources only; persistence belongs to the caller",
		mod + "node":  "registry is control-plane validation, not node/data-plane code",
		"testing":     "do not use the testing package in production code",
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("skipping: go list failed: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		for b, why := range bad {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("registry depends on %s: %s", dep, why)
			}
		}
	}
}
