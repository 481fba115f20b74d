package dnsmap

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps dnsmap on the data-plane side, in the style of tailscale's
// tstest/deptest: it lists the package's dependencies and fails on any of
// badDeps. (net/http is not listed: the Prometheus client imports it.)
func TestDeps(t *testing.T) {
	t.Parallel()
	badDeps := map[string]string{
		"github.com/edgesim/edgesim/api":   "dnsmap is data plane; the control-plane API must not be reachable from the query path",
		"github.com/edgesim/edgesim/store": "dnsmap is data plane; persistence belongs to the control plane (dnsmap gets its answers from a built Set)",
		"github.com/edgesim/edgesim/node":  "node wires dnsmap into edged and feeds it Sets, never the other way round",
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
				t.Errorf("dnsmap depends on %s: %s", d, why)
			}
		}
	}
}
