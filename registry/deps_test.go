package registry

import (
	"testing"

	"github.com/edgesim/edgesim/internal/deptest"
)

// TestDeps keeps registry a leaf of the control plane: used by the API, independent of it, of storage and of the data plane.
func TestDeps(t *testing.T) {
	t.Parallel()
	deptest.DepChecker{
		BadDeps: map[string]string{
			"github.com/edgesim/edgesim/api":   "registry answers the API; importing it would be a cycle",
			"github.com/edgesim/edgesim/store": "registry reads public sources only; persistence belongs to the caller",
			"github.com/edgesim/edgesim/node":  "registry is control-plane validation, not node/data-plane code",
			"testing":                          "do not use the testing package in production code",
		},
	}.Check(t)
}
