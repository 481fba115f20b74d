package node

import (
	"fmt"
	"github.com/edgesim/edgesim/internal/freeport"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMetrics scrapes /metrics after API calls and DNS queries and checks
// the series users graph: API requests by status, the snapshot, and the
// DNS responder's counters registered on the node's registry.
func TestMetrics(t *testing.T) {
	t.Parallel()
	addr := freeport.DNS(t)
	d := testDaemon(t, fmt.Sprintf(`listen: {dns: %q}
zones: [{id: %s, name: example.net, account_id: %s}]
`, addr, zoneNet, acctA))
	base := startNode(t, d)
	onboard(t, base, "203.0.113.0/24", 64496, "")
	resp, err := http.Get(base + "/client/v4/accounts/" + acctA + "/addressing/prefixes") // no credentials: 400
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// One injected fault, hit once.
	fr, err := http.Post(base+"/admin/v1/faults", "application/json", strings.NewReader(`{"match":{"method":"GET","path_prefix":"/accounts/"},"status":503,"count":1}`))
	if err != nil {
		t.Fatal(err)
	}
	fr.Body.Close()
	if fr.StatusCode != http.StatusOK {
		t.Fatalf("injecting a fault: status %d", fr.StatusCode)
	}
	if hit, err := http.Get(base + "/client/v4/accounts/" + acctA + "/addressing/prefixes"); err != nil {
		t.Fatal(err)
	} else if hit.Body.Close(); hit.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("the injected fault answered %d, want 503", hit.StatusCode)
	}
	query(t, "udp", addr, "example.net", dns.TypeSOA)
	query(t, "udp", addr, "nope.example.net", dns.TypeA)

	wants := []string{
		`edgesim_api_requests_total{method="POST"`,
		`status="200"`,
		`status="400"`,
		"edgesim_snapshot_generation ",
		"edgesim_snapshot_build_seconds ",
		`edgesim_dns_responses_total{proto="udp",rcode="NOERROR"}`,
		`edgesim_dns_responses_total{proto="udp",rcode="NXDOMAIN"}`,
		"go_goroutines ",
		"edgesim_api_faults_injected_total 1",
		"edgesim_api_rate_limited_total 0",
		"edgesim_snapshot_compile_failures_total 0",
	}
	// DNS counters are added after a batch's replies are written: poll.
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; {
		body = scrape(t, base)
		missing := slices.DeleteFunc(slices.Clone(wants), func(w string) bool { return strings.Contains(body, w) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", missing, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: HTTP %d, %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}
