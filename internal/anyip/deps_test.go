package anyip

import (
	"testing"

	"github.com/edgesim/edgesim/internal/deptest"
)

// TestDeps keeps anyip a leaf that node wires in.
func TestDeps(t *testing.T) {
	t.Parallel()
	deptest.DepChecker{
		BadDeps: map[string]string{
			"github.com/edgesim/edgesim/api":    "anyip programs routes only; the control-plane API must not be reachable from it",
			"github.com/edgesim/edgesim/store":  "anyip programs routes only; persistence belongs to the control plane",
			"github.com/edgesim/edgesim/node":   "node wires anyip, never the other way round",
			"github.com/edgesim/edgesim/config": "anyip takes prefixes, not snapshots; node turns snapshots into prefixes",
			"testing":                           "do not use the testing package in production code",
		},
		BadImports: map[string]string{"net/http": "anyip speaks rtnetlink only"},
	}.Check(t)
}
