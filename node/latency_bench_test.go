package node

import (
	"fmt"
	"github.com/edgesim/edgesim/internal/freeport"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkAPIToDNS measures how long an API change takes to reach the data
// plane: from the POST that creates a Spectrum app until the node's DNS
// responder answers the app's name (the reconciler compiles a snapshot,
// publishes it, and the DNS updater rebuilds its zones). The requirement is
// 100 ms; ms/change is the figure to compare.
//
//	go test ./node/ -run '^$' -bench APIToDNS -benchtime 50x
func BenchmarkAPIToDNS(b *testing.B) {
	addr := freeport.DNS(b)
	d := testDaemon(b, fmt.Sprintf(`listen: {dns: %q}
zones: [{id: %s, name: example.net, account_id: %s}]
`, addr, zoneNet, acctA))
	base := startNode(b, d)
	onboard(b, base, "203.0.113.0/24", 64496, "203.0.113.16/29")
	c := &dns.Client{Timeout: time.Second}
	var total time.Duration
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		name := fmt.Sprintf("app%d.example.net", i)
		start := time.Now()
		call(b, base, "POST", "/client/v4/zones/"+zoneNet+"/spectrum/apps", fmt.Sprintf(`{
			"protocol": "tcp/%d", "dns": {"type": "ADDRESS", "name": %q},
			"edge_ips": {"type": "static", "ips": ["203.0.113.18"]},
			"origin_direct": ["tcp://192.0.2.1:22"]}`, 1000+i, name), nil)
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		for deadline := start.Add(5 * time.Second); ; {
			if r, _, err := c.Exchange(m, addr); err == nil && len(r.Answer) > 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s not answered 5s after the API call", name)
			}
			time.Sleep(200 * time.Microsecond)
		}
		total += time.Since(start)
		i++
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(i), "ms/change")
}
