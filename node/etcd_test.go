package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
// of node 1 writes is published by node 2's reconciler (its admin lookup)
// and served by node 2's API, within a bounded poll, and the other way
// round; node 2 checks new writes against node 1's objects; a node's own
// writes do not reload its API's view; the clock offset is shared.
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
	// Node 2's API follows the store: it serves node 1's prefix and rejects
	// the same CIDR again (409, 1107: duplicates one of the account's prefixes).
	pfx := "/client/v4/accounts/" + acctA + "/addressing/prefixes"
	waitStatus(t, node2, "GET", pfx+"/"+o.prefixID, "", http.StatusOK)
	if status, code := tryCall(t, node2, "POST", pfx, `{"cidr":"203.0.113.0/24","asn":64496}`); status != http.StatusConflict || code != 1107 {
		t.Errorf("node 2 POST of node 1's cidr: %d code %d, want 409 1107", status, code)
	}
	// Own writes at full speed: no reload of node 1's view for any of them,
	// and node 2 follows the last one.
	before := scrapeCounter(t, node1, "edgesim_api_state_reloads_total")
	const own = 20
	for i := range own {
		call(t, node1, "PATCH", pfx+"/"+o.prefixID, fmt.Sprintf(`{"description":"own write %d"}`, i), nil)
	}
	if after := scrapeCounter(t, node1, "edgesim_api_state_reloads_total"); after != before {
		t.Errorf("node 1 reloads after %d own writes: %v -> %v, want no change", own, before, after)
	}
	waitFor(t, "node 2 serving node 1's last description", func() bool {
		var p struct{ Description string }
		call(t, node2, "GET", pfx+"/"+o.prefixID, "", &p)
		return p.Description == fmt.Sprintf("own write %d", own-1)
	})
	if got := scrapeCounter(t, node2, "edgesim_api_state_reloads_total"); got < 1 {
		t.Errorf("node 2 reloads = %v, want at least 1", got)
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

	// The lab clock's offset is shared: node 1's fast-forward moves node 2's clock.
	call(t, node1, "POST", "/admin/v1/clock/fast-forward", `{"duration":"3h"}`, nil)
	waitFor(t, "node 2's clock at +3h", func() bool {
		var c struct {
			OffsetSeconds float64 `json:"offset_seconds"`
		}
		call(t, node2, "GET", "/admin/v1/clock", "", &c)
		return c.OffsetSeconds == 3*3600
	})

	// A node started later loads the shared state at start.
	node3 := startNode(t, etcdDaemon(t, srv.Endpoint(), "/edgesim/pop/"))
	if r := waitLookup(t, node3, "203.0.113.18", func(r lookupResult) bool { return r.Served }); r.Announced != "203.0.113.0/24" {
		t.Errorf("node started later: %+v, want the advertised /24", r)
	}
}

// TestTwoNodesRaceOneCIDR: the same prefix CIDR posted through two nodes at
// the same moment is created once: the loser's conditional write meets the
// winner's (store.ErrConflict), its API reloads and re-checks, and answers
// 409 as a single node would.
func TestTwoNodesRaceOneCIDR(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	nodes := []string{
		startNode(t, etcdDaemon(t, srv.Endpoint(), "/edgesim/pop/")),
		startNode(t, etcdDaemon(t, srv.Endpoint(), "/edgesim/pop/")),
	}
	pfx := "/client/v4/accounts/" + acctA + "/addressing/prefixes"
	const rounds = 10
	for i := range rounds {
		body := fmt.Sprintf(`{"cidr":"2001:db8:%x::/48","asn":64496}`, i+1)
		var wg sync.WaitGroup
		statuses := make([]int, len(nodes))
		codes := make([]int, len(nodes))
		for n, base := range nodes {
			wg.Go(func() { statuses[n], codes[n] = tryCall(t, base, "POST", pfx, body) })
		}
		wg.Wait()
		slices.Sort(statuses)
		if statuses[0] != http.StatusOK || statuses[1] != http.StatusConflict || max(codes[0], codes[1]) != 1107 {
			t.Errorf("round %d: statuses %v codes %v, want one 200 and one 409 1107", i, statuses, codes)
		}
	}
	for _, base := range nodes {
		waitFor(t, "both nodes listing every prefix once", func() bool {
			var ps []struct{ CIDR string }
			call(t, base, "GET", pfx, "", &ps)
			return len(ps) == rounds
		})
		t.Logf("conflicts on %s: %v", base, scrapeCounter(t, base, "edgesim_api_write_conflicts_total"))
	}
}

// tryCall sends an API request as account A's key and returns the HTTP
// status and the first error code (0 on success).
func tryCall(t *testing.T, base, method, path, body string) (int, int) {
	t.Helper()
	resp := send(t, base, method, path, body)
	defer resp.Body.Close()
	var env struct{ Errors []struct{ Code int } }
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	code := 0
	if len(env.Errors) > 0 {
		code = env.Errors[0].Code
	}
	return resp.StatusCode, code
}

// waitStatus polls until the request answers want (at most 10s).
func waitStatus(t *testing.T, base, method, path, body string, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s %s answering %d", method, path, want), func() bool {
		status, _ := tryCall(t, base, method, path, body)
		return status == want
	})
}

// waitFor polls cond until it holds (at most 10s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scrapeCounter returns the value of an unlabelled series from /metrics.
func scrapeCounter(t *testing.T, base, name string) float64 {
	t.Helper()
	for line := range strings.Lines(scrape(t, base)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics lacks %s", name)
	return 0
}
