package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps proxy in the data plane, in the style of tailscale's
// tstest/deptest: it lists the package's dependencies and fails on any of
// badDeps.
func TestDeps(t *testing.T) {
	t.Parallel()
	// net/http is not listed: prometheus/client_golang imports it.
	badDeps := map[string]string{
		"github.com/edgesim/edgesim/api":   "proxy is data plane; the control-plane API must not be reachable from the packet path",
		"github.com/edgesim/edgesim/store": "proxy is data plane; persistence belongs to the control plane (proxy gets a Config)",
		"github.com/edgesim/edgesim/node":  "node wires proxy, never the other way round",
		"testing":                          "do not use the testing package in production code",
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
				t.Errorf("proxy depends on %s: %s", d, why)
			}
		}
	}
}
