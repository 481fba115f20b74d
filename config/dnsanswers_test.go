package config

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestDNSAnswersSpectrum(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr
	mk := func(id, typ, name, edge string, ips ...string) *SpectrumApp {
		a := &SpectrumApp{ID: id, ZoneName: "example.net", DNS: SpectrumDNS{Type: typ, Name: name}, EdgeIPs: SpectrumEdgeIPs{Type: edge}}
		for _, s := range ips {
			a.EdgeIPs.IPs = append(a.EdgeIPs.IPs, ip(s))
		}
		return a
	}
	target := func(name string) string { return SpectrumTarget(name, "example.net") }
	tests := []struct {
		name string
		apps []*SpectrumApp
		want map[string]string // name -> "A=[..] AAAA=[..] CNAME=.. src"
	}{
		{"static address", []*SpectrumApp{mk("1", DNSTypeAddress, "ssh.example.net", EdgeIPsStatic, "203.0.113.18", "2001:db8::1")},
			map[string]string{"ssh.example.net": "A=[203.0.113.18] AAAA=[2001:db8::1] CNAME= spectrum"}},
		{"dynamic cname", []*SpectrumApp{mk("1", DNSTypeCNAME, "app.example.net", EdgeIPsDynamic, "198.51.100.7")},
			map[string]string{
				"app.example.net":         "A=[] AAAA=[] CNAME=" + target("app.example.net") + " spectrum",
				target("app.example.net"): "A=[198.51.100.7] AAAA=[] CNAME= spectrum_target",
			}},
		{"static cname (lenient)", []*SpectrumApp{mk("1", DNSTypeCNAME, "s.example.net", EdgeIPsStatic, "203.0.113.18")},
			map[string]string{
				"s.example.net":         "A=[] AAAA=[] CNAME=" + target("s.example.net") + " spectrum",
				target("s.example.net"): "A=[203.0.113.18] AAAA=[] CNAME= spectrum_target",
			}},
		{"dynamic address (lenient)", []*SpectrumApp{mk("1", DNSTypeAddress, "d.example.net", EdgeIPsDynamic, "198.51.100.7", "2001:db8:ff::7")},
			map[string]string{"d.example.net": "A=[198.51.100.7] AAAA=[2001:db8:ff::7] CNAME= spectrum"}},
		{"cname at apex is flattened", []*SpectrumApp{mk("1", DNSTypeCNAME, "example.net", EdgeIPsDynamic, "2001:db8:ff::7")},
			map[string]string{"example.net": "A=[] AAAA=[2001:db8:ff::7] CNAME= spectrum"}},
		{"shared hostname", []*SpectrumApp{
			mk("1", DNSTypeAddress, "ssh.example.net", EdgeIPsStatic, "203.0.113.18"),
			mk("2", DNSTypeAddress, "ssh.example.net", EdgeIPsStatic, "203.0.113.18"),
			mk("3", DNSTypeAddress, "www.example.net", EdgeIPsStatic, "203.0.113.19"),
		}, map[string]string{
			"ssh.example.net": "A=[203.0.113.18] AAAA=[] CNAME= spectrum",
			"www.example.net": "A=[203.0.113.19] AAAA=[] CNAME= spectrum",
		}},
		{"no apps", nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := NewState()
			for _, a := range tt.apps {
				st.SpectrumApps[a.ID] = a
			}
			s, err := Compile(st, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			got := s.DNSAnswers()
			if len(got) != len(tt.want) {
				t.Fatalf("%d answers, want %d: %+v", len(got), len(tt.want), got)
			}
			for _, a := range got {
				if a.TTL != SpectrumTTL {
					t.Errorf("%s: ttl %d", a.Name, a.TTL)
				}
				desc := fmt.Sprintf("A=%v AAAA=%v CNAME=%s %s", a.A, a.AAAA, a.CNAME, a.Source)
				if desc != tt.want[a.Name] {
					t.Errorf("%s: %s, want %s", a.Name, desc, tt.want[a.Name])
				}
				if one, ok := s.DNSAnswer(a.Name); !ok || one.Name != a.Name {
					t.Errorf("DNSAnswer(%q) = %+v, %v", a.Name, one, ok)
				}
			}
			if _, ok := s.DNSAnswer("missing.example.net"); ok {
				t.Error("DNSAnswer of an unknown name succeeded")
			}
		})
	}
}

// TestDNSAnswersRecords covers proxied and DNS-only records and their
// precedence against Spectrum apps.
func TestDNSAnswersRecords(t *testing.T) {
	t.Parallel()
	pool := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:ff::/48")}
	n := 0
	r := func(typ, name, content string, proxied bool, ttl int) *DNSRecord {
		n++
		return &DNSRecord{ID: fmt.Sprint(n), ZoneName: "example.net", Type: typ, Name: name, Content: content, Proxied: proxied, TTL: ttl, CreatedOn: time.Unix(int64(n), 0)}
	}
	tests := []struct {
		name string
		pool []netip.Prefix
		recs []*DNSRecord
		apps []*SpectrumApp
		want map[string]string
	}{
		{"proxied a answers the pool", pool, []*DNSRecord{r(RecordA, "www.example.net", "192.0.2.1", true, 1)},
			nil, map[string]string{"www.example.net": "A=[198.51.100.1] AAAA=[2001:db8:ff::1] CNAME= TXT=[] ttl=300 proxied"}},
		{"proxied cname is flattened", pool, []*DNSRecord{r(RecordCNAME, "www.example.net", "origin.example.org", true, 1)},
			nil, map[string]string{"www.example.net": "A=[198.51.100.1] AAAA=[2001:db8:ff::1] CNAME= TXT=[] ttl=300 proxied"}},
		{"proxied without pool answers nothing", nil, []*DNSRecord{r(RecordA, "www.example.net", "192.0.2.1", true, 1)},
			nil, map[string]string{"www.example.net": "A=[] AAAA=[] CNAME= TXT=[] ttl=300 proxied"}},
		{"one proxied record proxies the name", pool, []*DNSRecord{r(RecordA, "www.example.net", "192.0.2.1", false, 60), r(RecordAAAA, "www.example.net", "2001:db8::1", true, 1), r(RecordTXT, "www.example.net", "v=1", false, 60)},
			nil, map[string]string{"www.example.net": "A=[198.51.100.1] AAAA=[2001:db8:ff::1] CNAME= TXT=[v=1] ttl=300 proxied"}},
		{"dns only as is", pool, []*DNSRecord{r(RecordA, "a.example.net", "192.0.2.2", false, 3600), r(RecordA, "a.example.net", "192.0.2.1", false, 120), r(RecordAAAA, "a.example.net", "2001:db8::1", false, 1)},
			nil, map[string]string{"a.example.net": "A=[192.0.2.1 192.0.2.2] AAAA=[2001:db8::1] CNAME= TXT=[] ttl=120 dns-only"}},
		{"dns only cname and txt", pool, []*DNSRecord{r(RecordCNAME, "c.example.net", "origin.example.org", false, 600), r(RecordTXT, "t.example.net", "x", false, 1)},
			nil, map[string]string{
				"c.example.net": "A=[] AAAA=[] CNAME=origin.example.org TXT=[] ttl=600 dns-only",
				"t.example.net": "A=[] AAAA=[] CNAME= TXT=[x] ttl=300 dns-only",
			}},
		{"spectrum wins over a record", pool, []*DNSRecord{r(RecordA, "ssh.example.net", "192.0.2.1", true, 1)},
			[]*SpectrumApp{{ID: "s1", ZoneName: "example.net", DNS: SpectrumDNS{Type: DNSTypeAddress, Name: "ssh.example.net"}, EdgeIPs: SpectrumEdgeIPs{Type: EdgeIPsStatic, IPs: []netip.Addr{netip.MustParseAddr("203.0.113.18")}}}},
			map[string]string{"ssh.example.net": "A=[203.0.113.18] AAAA=[] CNAME= TXT=[] ttl=300 spectrum"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := NewState()
			for _, x := range tt.recs {
				st.DNSRecords[x.ID] = x
			}
			for _, a := range tt.apps {
				st.SpectrumApps[a.ID] = a
			}
			s, err := CompileWith(st, time.Unix(0, 0), CompileOptions{AnycastPool: tt.pool})
			if err != nil {
				t.Fatal(err)
			}
			got := s.DNSAnswers()
			if len(got) != len(tt.want) {
				t.Fatalf("%d answers, want %d: %+v", len(got), len(tt.want), got)
			}
			for _, a := range got {
				src := a.Source
				if src == AnswerRecord {
					src = "dns-only"
				}
				txt := a.TXT
				if txt == nil {
					txt = []string{}
				}
				desc := fmt.Sprintf("A=%v AAAA=%v CNAME=%s TXT=%v ttl=%d %s", a.A, a.AAAA, a.CNAME, txt, a.TTL, src)
				if desc != tt.want[a.Name] {
					t.Errorf("%s: %s, want %s", a.Name, desc, tt.want[a.Name])
				}
			}
		})
	}
}

// TestDNSAnswersAddressMaps covers every precedence case of proxied
// hostnames: zone membership beats account membership, disabled maps are
// ignored, no map means the anycast pool, a family the map lacks is NODATA,
// managed maps count like stored ones, several maps of the winning kind
// are merged.
func TestDNSAnswersAddressMaps(t *testing.T) {
	t.Parallel()
	const zone, acct, other = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"
	pool := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:ff::/48")}
	m := func(id string, enabled bool, ips []string, members ...string) *AddressMap {
		x := &AddressMap{ID: id, AccountID: acct, Enabled: enabled}
		for _, s := range ips {
			x.IPs = append(x.IPs, AddressMapIP{IP: netip.MustParseAddr(s)})
		}
		for i := 0; i < len(members); i += 2 {
			x.Memberships = append(x.Memberships, Membership{Kind: members[i], Identifier: members[i+1]})
		}
		return x
	}
	zoneMap := m("m1", true, []string{"203.0.113.1"}, MemberZone, zone)
	acctMap := m("m2", true, []string{"203.0.113.2", "2001:db8::2"}, MemberAccount, acct)
	tests := []struct {
		name    string
		maps    []*AddressMap
		managed []*AddressMap
		want    string
	}{
		{"no map: pool", nil, nil, "[198.51.100.1] [2001:db8:ff::1] []"},
		{"zone map", []*AddressMap{zoneMap}, nil, "[203.0.113.1] [] [m1]"},
		{"account map", []*AddressMap{acctMap}, nil, "[203.0.113.2] [2001:db8::2] [m2]"},
		{"zone beats account", []*AddressMap{zoneMap, acctMap}, nil, "[203.0.113.1] [] [m1]"},
		{"disabled zone map ignored", []*AddressMap{m("m1", false, []string{"203.0.113.1"}, MemberZone, zone), acctMap}, nil, "[203.0.113.2] [2001:db8::2] [m2]"},
		{"disabled maps only: pool", []*AddressMap{m("m1", false, []string{"203.0.113.1"}, MemberZone, zone)}, nil, "[198.51.100.1] [2001:db8:ff::1] []"},
		{"other zone and account ignored", []*AddressMap{m("m3", true, []string{"203.0.113.3"}, MemberZone, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz2", MemberAccount, other)}, nil, "[198.51.100.1] [2001:db8:ff::1] []"},
		{"managed account map", nil, []*AddressMap{m("mm", true, []string{"203.0.113.30"}, MemberAccount, acct)}, "[203.0.113.30] [] [mm]"},
		{"zone map beats managed", []*AddressMap{zoneMap}, []*AddressMap{m("mm", true, []string{"203.0.113.30"}, MemberAccount, acct)}, "[203.0.113.1] [] [m1]"},
		{"two zone maps merged", []*AddressMap{zoneMap, m("m4", true, []string{"2001:db8::4", "203.0.113.1"}, MemberZone, zone)}, nil, "[203.0.113.1] [2001:db8::4] [m1 m4]"},
		{"empty enabled zone map skipped", []*AddressMap{m("m5", true, nil, MemberZone, zone), acctMap}, nil, "[203.0.113.2] [2001:db8::2] [m2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := NewState()
			st.DNSRecords["r1"] = &DNSRecord{ID: "r1", ZoneID: zone, ZoneName: "example.net", AccountID: acct, Type: RecordA, Name: "www.example.net", Content: "192.0.2.1", Proxied: true, TTL: 1}
			st.DNSRecords["r2"] = &DNSRecord{ID: "r2", ZoneID: zone, ZoneName: "example.net", AccountID: acct, Type: RecordA, Name: "dns-only.example.net", Content: "192.0.2.1", TTL: 60}
			for _, x := range tt.maps {
				st.AddressMaps[x.ID] = x
			}
			s, err := CompileWith(st, time.Unix(0, 0), CompileOptions{AnycastPool: pool, ManagedAddressMaps: tt.managed})
			if err != nil {
				t.Fatal(err)
			}
			a, ok := s.DNSAnswer("www.example.net")
			ids := a.AddressMapIDs
			if ids == nil {
				ids = []string{}
			}
			if got := fmt.Sprint(a.A, " ", a.AAAA, " ", ids); !ok || got != tt.want || a.TTL != 300 || a.Source != AnswerProxied {
				t.Fatalf("www = %s (%+v), want %s", got, a, tt.want)
			}
			if d, _ := s.DNSAnswer("dns-only.example.net"); fmt.Sprint(d.A) != "[192.0.2.1]" || d.TTL != 60 {
				t.Fatalf("maps changed a dns-only record: %+v", d)
			}
		})
	}
}
