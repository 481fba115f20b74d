package dnsmap

import (
	"testing"

	"github.com/edgesim/edgesim/internal/deptest"
)

// TestDeps keeps dnsmap on the data-plane side.
func TestDeps(t *testing.T) {
	t.Parallel()
	deptest.DepChecker{
		BadDeps: map[string]string{
			"github.com/edgesim/edgesim/api":   "dnsmap is data plane; the control-plane API must not be reachable from the query path",
			"github.com/edgesim/edgesim/store": "dnsmap is data plane; persistence belongs to the control plane (dnsmap gets its answers from a built Set)",
			"github.com/edgesim/edgesim/node":  "node wires dnsmap into edged and feeds it Sets, never the other way round",
			"testing":                          "do not use the testing package in production code",
		},
		// net/http is reachable through the Prometheus client, but dnsmap
		// itself serves no HTTP.
		BadImports: map[string]string{"net/http": "dnsmap serves DNS only; metrics are exposed by the caller"},
	}.Check(t)
}
