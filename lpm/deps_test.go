package lpm

import (
	"testing"

	"github.com/edgesim/edgesim/internal/deptest"
)

// TestDeps keeps lpm a leaf of the data plane.
func TestDeps(t *testing.T) {
	t.Parallel()
	deptest.DepChecker{
		BadDeps: map[string]string{
			"github.com/edgesim/edgesim/api":   "lpm is data plane; the control-plane API must not be reachable from the lookup path",
			"github.com/edgesim/edgesim/store": "lpm is data plane; persistence belongs to the control plane (lpm gets its routes from config.Compile)",
			"github.com/edgesim/edgesim/node":  "lpm is a leaf library; node wiring imports lpm, never the other way round",
			"net/http":                         "lpm is a pure in-memory table; an HTTP dependency means control-plane code leaked in",
			"testing":                          "do not use the testing package in production code",
		},
	}.Check(t)
}
