package lpm

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps lpm a leaf of the data plane, in the style of tailscale's
// tstest/deptest: it lists the package's dependencies and fails on any of
// badDeps.
func TestDeps(t *testing.T) {
	t.Parallel()
	badDeps := map[string]string{
		"github.com/edgesim/edgesim/api":   "lpm is data plane; the control-plane API must not be reachable from the lookup path",
		"github.com/edgesim/edgesim/store": "lpm is data plane; persistence belongs to the control plane (lpm gets its routes from config.Compile)",
		"github.com/edgesim/edgesim/node":  "lpm is a leaf library; node wiring imports lpm, never the other way round",
		"net/http":                         "lpm is a pure in-memory table; an HTTP dependency means control-plane code leaked in",
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 5 {
		t.Fatalf("go list -deps returned only %q", deps)
	}
	for _, d := range deps {
		for bad, why := range badDeps {
			if d == bad || strings.HasPrefix(d, bad+"/") {
				t.Errorf("lpm depends on %s: %s", d, why)
			}
		}
	}
}
