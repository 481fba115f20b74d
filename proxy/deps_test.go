package proxy

import (
	"testing"

	"github.com/edgesim/edgesim/internal/deptest"
)

// TestDeps keeps proxy on the data-plane side.
func TestDeps(t *testing.T) {
	t.Parallel()
	deptest.DepChecker{
		BadDeps: map[string]string{
			"github.com/edgesim/edgesim/api":   "proxy is data plane; the control-plane API must not be reachable from the packet path",
			"github.com/edgesim/edgesim/store": "proxy is data plane; persistence belongs to the control plane (proxy gets a Config)",
			"github.com/edgesim/edgesim/node":  "node wires proxy, never the other way round",
			"testing":                          "do not use the testing package in production code",
		},
		BadImports: map[string]string{"net/http": "proxy is L4 only; metrics are exposed by the caller"},
	}.Check(t)
}
