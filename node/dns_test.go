package node

import (
	"fmt"
	"github.com/edgesim/edgesim/internal/freeport"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/dnsmap"
)

const zoneNet = "9a7806061c88ada191ed06f989cc3dac" // example.net, account A

// query sends one question over proto ("udp" or "tcp").
func query(t testing.TB, proto, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", proto, name, dns.TypeToString[qtype], err)
	}
	return r
}

// waitDNS polls until the answer to name/qtype satisfies cond.
func waitDNS(t *testing.T, addr, name string, qtype uint16, cond func(*dns.Msg) bool) *dns.Msg {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		r := query(t, "udp", addr, name, qtype)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: condition not met after 10s; last:\n%v", name, dns.TypeToString[qtype], r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func answerAddrs(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	return out
}

// TestDNSServesSnapshots runs a node with listen.dns and checks that the
// responder follows the API: a Spectrum app's hostname answers its edge
// IP (UDP and TCP) and stops answering once the app is deleted, missing
// names get NXDOMAIN with the synthetic SOA, other names REFUSED, and
// zones created through the API are served.
func TestDNSServesSnapshots(t *testing.T) {
	t.Parallel()
	addr := freeport.DNS(t)
	d := testDaemon(t, fmt.Sprintf(`listen: {dns: %q}
zones: [{id: %s, name: example.net, account_id: %s}]
`, addr, zoneNet, acctA))
	base := startNode(t, d)

	// The config zone is served from the first snapshot on.
	r := query(t, "udp", addr, "example.net", dns.TypeSOA)
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		t.Fatalf("example.net SOA:\n%v\nwant one authoritative SOA", r)
	}
	soa := r.Answer[0].(*dns.SOA)
	if soa.Ns != "ns1.example.net." || soa.Mbox != "hostmaster.example.net." || soa.Minttl != 300 || soa.Serial == 0 {
		t.Errorf("SOA = %v, want ns1/hostmaster.example.net., minimum 300, serial the generation", soa)
	}
	r = query(t, "udp", addr, "example.net", dns.TypeNS)
	var ns []string
	for _, rr := range r.Answer {
		ns = append(ns, rr.(*dns.NS).Ns)
	}
	slices.Sort(ns)
	if want := []string{"ns1.example.net.", "ns2.example.net."}; !slices.Equal(ns, want) {
		t.Errorf("example.net NS = %v, want %v", ns, want)
	}

	onboard(t, base, "203.0.113.0/24", 64496, "203.0.113.16/29")
	var app struct{ ID string }
	call(t, base, "POST", "/client/v4/zones/"+zoneNet+"/spectrum/apps", `{
		"protocol": "tcp/22",
		"dns": {"type": "ADDRESS", "name": "ssh.example.net"},
		"edge_ips": {"type": "static", "ips": ["203.0.113.18"]},
		"origin_direct": ["tcp://192.0.2.1:22"]}`, &app)

	r = waitDNS(t, addr, "ssh.example.net", dns.TypeA, func(r *dns.Msg) bool { return len(r.Answer) > 0 })
	if got := answerAddrs(r); r.Rcode != dns.RcodeSuccess || !r.Authoritative || !slices.Equal(got, []string{"203.0.113.18"}) || r.Answer[0].Header().Ttl != config.SpectrumTTL {
		t.Errorf("ssh.example.net A over UDP:\n%v\nwant 203.0.113.18, TTL %d, AA", r, config.SpectrumTTL)
	}
	r = query(t, "tcp", addr, "SSH.Example.Net", dns.TypeA)
	if got := answerAddrs(r); !slices.Equal(got, []string{"203.0.113.18"}) {
		t.Errorf("ssh.example.net A over TCP = %v, want [203.0.113.18]", got)
	}
	r = query(t, "udp", addr, "ssh.example.net", dns.TypeAAAA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("ssh.example.net AAAA:\n%v\nwant NODATA with the SOA", r)
	}

	r = query(t, "udp", addr, "missing.example.net", dns.TypeA)
	if r.Rcode != dns.RcodeNameError || !r.Authoritative || len(r.Ns) != 1 {
		t.Fatalf("missing.example.net A:\n%v\nwant NXDOMAIN with the SOA in authority", r)
	}
	if s, ok := r.Ns[0].(*dns.SOA); !ok || s.Hdr.Name != "example.net." || s.Hdr.Ttl != 300 {
		t.Errorf("missing.example.net authority = %v, want the example.net. SOA at TTL 300", r.Ns[0])
	}
	if r := query(t, "udp", addr, "www.example.org", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("www.example.org A: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}

	// A zone created through the API is served, with its records.
	var zone struct{ ID string }
	call(t, base, "POST", "/client/v4/zones", fmt.Sprintf(`{"name":"example.org","account":{"id":%q}}`, acctA), &zone)
	call(t, base, "POST", "/client/v4/zones/"+zone.ID+"/dns_records",
		`{"type":"TXT","name":"txt.example.org","content":"hello \\ world","ttl":120}`, nil)
	r = waitDNS(t, addr, "txt.example.org", dns.TypeTXT, func(r *dns.Msg) bool { return len(r.Answer) > 0 })
	if txt, ok := r.Answer[0].(*dns.TXT); !ok || strings.Join(txt.Txt, "") != `hello \\ world` || txt.Hdr.Ttl != 120 {
		t.Errorf("txt.example.org TXT = %v, want %q at TTL 120", r.Answer[0], `hello \ world`)
	}
	if r := query(t, "udp", addr, "www.example.org", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("www.example.org A after creating the zone: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}

	call(t, base, "DELETE", "/client/v4/zones/"+zoneNet+"/spectrum/apps/"+app.ID, "", nil)
	waitDNS(t, addr, "ssh.example.net", dns.TypeA, func(r *dns.Msg) bool {
		return r.Rcode == dns.RcodeNameError && len(r.Answer) == 0
	})
}

// TestDNSZones checks the zone data built from a snapshot: synthetic apex
// records, answers in their zones, CNAME alone, long TXT split, and
// answers that cannot be served skipped.
func TestDNSZones(t *testing.T) {
	t.Parallel()
	st := config.NewState()
	st.Zones["z2"] = &config.Zone{ID: "z2", Name: "example.org", AccountID: acctA}
	rec := func(id, zone, name, typ, content string) {
		st.DNSRecords[id] = &config.DNSRecord{ID: id, ZoneID: zone, ZoneName: zone, Name: name, Type: typ, Content: content, TTL: 60}
	}
	long := strings.Repeat("x", 300)
	rec("r1", "example.net", "www.example.net", config.RecordA, "192.0.2.1")
	rec("r2", "example.net", "www.example.net", config.RecordAAAA, "2001:db8::1")
	rec("r3", "example.org", "alias.example.org", config.RecordCNAME, "www.example.net")
	rec("r4", "example.org", "long.example.org", config.RecordTXT, long)
	rec("r5", "example.com", "www.example.com", config.RecordA, "192.0.2.2") // unknown zone
	rec("r6", "example.net", "example.net", config.RecordCNAME, "www.example.org")
	s, err := config.Compile(st, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	s.Generation = 7
	zones, skipped := dnsZones(s, []config.Zone{{ID: "z1", Name: "Example.NET."}})
	if skipped != 2 {
		t.Errorf("skipped = %d, want 2 (unknown zone, CNAME at the apex)", skipped)
	}
	got := map[string][]string{}
	for _, z := range zones {
		for _, rr := range z.Records {
			got[z.Name] = append(got[z.Name], strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	want := map[string][]string{
		"example.net.": {
			"example.net. 3600 IN SOA ns1.example.net. hostmaster.example.net. 7 10000 2400 604800 300",
			"example.net. 86400 IN NS ns1.example.net.",
			"example.net. 86400 IN NS ns2.example.net.",
			"www.example.net. 60 IN A 192.0.2.1",
			"www.example.net. 60 IN AAAA 2001:db8::1",
		},
		"example.org.": {
			"example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 7 10000 2400 604800 300",
			"example.org. 86400 IN NS ns1.example.org.",
			"example.org. 86400 IN NS ns2.example.org.",
			"alias.example.org. 60 IN CNAME www.example.net.",
			fmt.Sprintf("long.example.org. 60 IN TXT %q %q", long[:255], long[255:]),
		},
	}
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("zone %s:\n got %q\nwant %q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("zones = %v, want example.net. and example.org.", slices.Sorted(maps.Keys(got)))
	}
	if _, err := dnsmap.Build(zones); err != nil {
		t.Errorf("dnsmap.Build: %v", err)
	}
}

// TestDNSAddressMapPrecedenceOnTheWire walks the address-map precedence
// rules through the API and checks what DNS answers for a proxied record:
// the anycast pool with no map, an account map once enabled (a disabled map
// is ignored), and a zone map over the account map.
func TestDNSAddressMapPrecedenceOnTheWire(t *testing.T) {
	t.Parallel()
	addr := freeport.DNS(t)
	d := testDaemon(t, fmt.Sprintf(`listen: {dns: %q}
anycast_pool: ["192.0.2.0/24"]
zones: [{id: %s, name: example.net, account_id: %s}]
`, addr, zoneNet, acctA))
	base := startNode(t, d)
	onboard(t, base, "203.0.113.0/24", 64496, "")
	call(t, base, "POST", "/client/v4/zones/"+zoneNet+"/dns_records",
		`{"type":"A","name":"www.example.net","content":"198.51.100.80","proxied":true,"ttl":1}`, nil)
	maps := "/client/v4/accounts/" + acctA + "/addressing/address_maps"
	want := func(step string, ips ...string) {
		t.Helper()
		r := waitDNS(t, addr, "www.example.net", dns.TypeA, func(r *dns.Msg) bool {
			got := answerAddrs(r)
			slices.Sort(got)
			return slices.Equal(got, ips)
		})
		if r.Answer[0].Header().Ttl != 300 {
			t.Errorf("%s: TTL %d, want 300", step, r.Answer[0].Header().Ttl)
		}
	}

	// No map: the edge's pool (its first address), never the origin.
	want("no map", "192.0.2.1")

	// An account map, disabled: ignored. Enabled: it applies.
	var acctMap struct{ ID string }
	call(t, base, "POST", maps, fmt.Sprintf(`{"enabled":false,"ips":["203.0.113.10"],
		"memberships":[{"identifier":%q,"kind":"account"}]}`, acctA), &acctMap)
	want("disabled account map", "192.0.2.1")
	call(t, base, "PATCH", maps+"/"+acctMap.ID, `{"enabled":true}`, nil)
	want("enabled account map", "203.0.113.10")

	// A zone map beats the account map.
	var zoneMap struct{ ID string }
	call(t, base, "POST", maps, fmt.Sprintf(`{"enabled":true,"ips":["203.0.113.20"],
		"memberships":[{"identifier":%q,"kind":"zone"}]}`, zoneNet), &zoneMap)
	want("zone map over account map", "203.0.113.20")

	// Disabling the zone map falls back to the account map.
	call(t, base, "PATCH", maps+"/"+zoneMap.ID, `{"enabled":false}`, nil)
	want("zone map disabled", "203.0.113.10")
}
