package api

import (
	"testing"

	"github.com/edgesim/edgesim/internal/deptest"
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
	deptest.DepChecker{BadDeps: badDeps, BadImports: badImports}.Check(t)
}
