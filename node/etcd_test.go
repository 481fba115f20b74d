package node

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/etcdtest"
)

// etcdDaemon is testDaemon with the state in etcd.
func etcdDaemon(t *testing.T, endpoint, prefix string) *config.Daemon {
	t.Helper()
	y := fmt.Sprintf(`version: 1
state: {etcd: {endpoints: [%q], prefix: %q, dial_timeout: 5s}}
accounts: [{id: %s}, {id: %s}]
credentials: [{email: a@example.com, key: ka, accounts: [%s]}]
validation: {auto_valid: true}
timing: {time_factor: 0}
`, endpoint, prefix, acctA, acctB, acctA)
	d, err := config.Decode(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestTwoNodesShareEtcdState runs two nodes on one etcd state: what the API
// of node 1 writes is published by node 2's reconciler (its admin lookup),
// within a bounded poll, and the other way round. (Each node's API keeps the
// objects it loaded at start plus its own writes in memory, so node 2's API
// does not list node 1's objects; see store/README.md.)
func TestTwoNodesShareEtcdState(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	node1 := startNode(t, etcdDaemon(t, srv.Endpoint(), "/edgesim/pop/"))
	node2 := startNode(t, etcdDaemon(t, srv.Endpoint(), "/edgesim/pop/"))
	other := startNode(t, etcdDaemon(t, srv.Endpoint(), "/edgesim/elsewhere/"))

	if r := waitLookup(t, node2, "203.0.113.18", func(lookupResult) bool { return true }); r.Matched {
		t.Fatalf("node 2 lookup before onboarding matched: %+v", r)
	}
	o := onboard(t, node1, "203.0.113.0/24", 64496, "203.0.113.16/29")
	r := waitLookup(t, node2, "203.0.113.18", func(r lookupResult) bool { return r.Route == "203.0.113.16/29" })
	if r.Binding.Service != "Spectrum" || r.Binding.State != "active" || r.Served {
		t.Errorf("node 2 after node 1's bindings: %+v, want the active Spectrum /29, not served (withdrawn)", r)
	}
	o.patch(t, node1, `{"on_demand":{"advertised":true}}`)
	r = waitLookup(t, node2, "203.0.113.18", func(r lookupResult) bool { return r.Served })
	if r.Announced != "203.0.113.0/24" {
		t.Errorf("node 2 after node 1's advertise: announced %q, want 203.0.113.0/24", r.Announced)
	}
	// The other way round: a prefix onboarded through node 2's API.
	onboard(t, node2, "198.51.100.0/24", 64496, "")
	if r := waitLookup(t, node1, "198.51.100.7", func(r lookupResult) bool { return r.Matched }); r.Binding.Service != "CDN" {
		t.Errorf("node 1 after node 2's onboarding: %+v, want the CDN default binding", r)
	}
	// Node 1 sees its own writes too; a node on another prefix sees none of them.
	waitLookup(t, node1, "203.0.113.18", func(r lookupResult) bool { return r.Served })
	if r := waitLookup(t, other, "203.0.113.18", func(lookupResult) bool { return true }); r.Matched {
		t.Errorf("node on another prefix matched: %+v", r)
	}

	// A node started later loads the shared state at start.
	node3 := startNode(t, etcdDaemon(t, srv.Endpoint(), "/edgesim/pop/"))
	if r := waitLookup(t, node3, "203.0.113.18", func(r lookupResult) bool { return r.Served }); r.Announced != "203.0.113.0/24" {
		t.Errorf("node started later: %+v, want the advertised /24", r)
	}
}
