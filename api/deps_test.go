package api

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// badDeps are packages api must never depend on, even indirectly, with the reason.
var badDeps = map[string]string{
	"github.com/edgesim/edgesim/proxy":       "data plane: the proxy reads snapshots, never the api",
	"github.com/edgesim/edgesim/dnsmap":      "data plane: dns answers come from snapshots",
	"github.com/edgesim/edgesim/bgp":         "data plane: GoBGP types never leave bgp/",
	"github.com/osrg/gobgp/v3":               "GoBGP is contained in bgp/",
	"github.com/cloudflare/cloudflare-go/v6": "the SDK is a test-only dependency",
	"testing":                                "do not use the testing package in production code",
}

// badImports are packages api must not import directly. lpm is reachable
// through config (config.Compile builds the lpm table of a Snapshot), so it
// is only forbidden as a direct import.
var badImports = map[string]string{
	"github.com/edgesim/edgesim/lpm":    "data plane: api writes the store, the node compiles snapshots for lpm",
	"github.com/edgesim/edgesim/proxy":  badDeps["github.com/edgesim/edgesim/proxy"],
	"github.com/edgesim/edgesim/dnsmap": badDeps["github.com/edgesim/edgesim/dnsmap"],
	"github.com/edgesim/edgesim/bgp":    badDeps["github.com/edgesim/edgesim/bgp"],
}

// TestDeps fails when api (not its tests) depends on the data plane.
func TestDeps(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-json", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	var pkg struct{ Imports, Deps []string }
	if err := json.Unmarshal(out, &pkg); err != nil {
		t.Fatal(err)
	}
	for _, dep := range pkg.Deps {
		for bad, why := range badDeps {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("api depends on %s: %s", dep, why)
			}
		}
	}
	for bad, why := range badImports {
		if slices.ContainsFunc(pkg.Imports, func(imp string) bool { return imp == bad || strings.HasPrefix(imp, bad+"/") }) {
			t.Errorf("api imports %s: %s", bad, why)
		}
	}
}
