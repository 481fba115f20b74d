package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseProtocol(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want string // canonical, "" for an error
	}{
		{"tcp/22", "tcp/22"}, {"udp/53", "udp/53"}, {"tcp/1000-2000", "tcp/1000-2000"}, {"tcp/1-65535", "tcp/1-65535"},
		{"tcp/0", ""}, {"tcp/65536", ""}, {"tcp/2000-1000", ""}, {"tcp/22-22", ""}, {"TCP/22", ""}, {"tcp/022", ""},
		{"tcp/+22", ""}, {"tcp/22-", ""}, {"tcp/-22", ""}, {"tcp/", ""}, {"tcp", ""}, {"minecraft", ""}, {"sctp/22", ""}, {"tcp/22/23", ""},
	} {
		p, err := ParseProtocol(tt.in)
		if tt.want == "" {
			if r, _ := RuleOf(err); r != RuleSpectrumProtocol {
				t.Errorf("ParseProtocol(%q) = %v, %v; want rule %s", tt.in, p, err, RuleSpectrumProtocol)
			}
			continue
		}
		if err != nil || p.String() != tt.want {
			t.Errorf("ParseProtocol(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestParseOrigin(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"tcp://192.0.2.1:22", "tcp://192.0.2.1:22"},
		{"udp://192.0.2.1:3000-4000", "udp://192.0.2.1:3000-4000"},
		{"tcp://[2001:DB8::1]:22", "tcp://[2001:db8::1]:22"},
		{"tcp://2001:db8::1:22", ""}, {"tcp://[192.0.2.1]:22", ""}, {"tcp://192.0.2.1", ""}, {"tcp://192.0.2.1:0", ""},
		{"http://192.0.2.1:80", ""}, {"tcp://origin.example.net:22", ""}, {"tcp://[fe80::1%eth0]:22", ""},
		{"tcp://[::ffff:192.0.2.1]:22", ""}, {"tcp//192.0.2.1:22", ""}, {"", ""},
	} {
		o, err := ParseOrigin(tt.in)
		if tt.want == "" {
			if r, _ := RuleOf(err); r != RuleSpectrumOrigin {
				t.Errorf("ParseOrigin(%q) = %v, %v; want rule %s", tt.in, o, err, RuleSpectrumOrigin)
			}
			continue
		}
		if err != nil || o.String() != tt.want {
			t.Errorf("ParseOrigin(%q) = %v, %v; want %s", tt.in, o, err, tt.want)
		}
	}
}

// TestAllocateDeterministic: a hostname gets the same pool addresses in the
// same state, other hostnames get other addresses, and a full pool fails.
func TestAllocateDeterministic(t *testing.T) {
	t.Parallel()
	pool := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/30"), netip.MustParsePrefix("2001:db8:ff::/126")}
	zone := Zone{ID: "9a7806061c88ada191ed06f989cc3dac", Name: "example.net", AccountID: "258def64c72dae45f3e4c8516e2111f2"}
	env := SpectrumEnv{Zone: zone, Pool: pool, Now: time.Unix(0, 0)}
	st := NewState()
	mk := func(id, name string) *SpectrumApp {
		a := &SpectrumApp{ID: id, ZoneID: zone.ID, AccountID: zone.AccountID, Protocol: "tcp/22", DNS: SpectrumDNS{Type: DNSTypeCNAME, Name: name},
			OriginDirect: []string{"tcp://192.0.2.1:22"}, ProxyProtocol: ProxyProtocolOff, TLS: TLSOff, TrafficType: TrafficDirect,
			EdgeIPs: SpectrumEdgeIPs{Type: EdgeIPsDynamic, Connectivity: ConnectivityAll}}
		if err := CheckSpectrumFields(a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	seen := map[netip.Addr]bool{}
	for i, name := range []string{"a.example.net", "b.example.net"} { // a /30 has two allocatable addresses
		a := mk(string(rune('0'+i))+"0000000000000000000000000000000", name)
		again := mk(a.ID, name)
		if _, err := CheckSpectrumApp(st, a, env); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := CheckSpectrumApp(st, again, env); err != nil || again.EdgeIPs.IPs[0] != a.EdgeIPs.IPs[0] || again.EdgeIPs.IPs[1] != a.EdgeIPs.IPs[1] {
			t.Fatalf("%s: not deterministic: %v vs %v (%v)", name, a.EdgeIPs.IPs, again.EdgeIPs.IPs, err)
		}
		for _, ip := range a.EdgeIPs.IPs {
			if seen[ip] || ip == pool[0].Addr() || ip == pool[1].Addr() {
				t.Fatalf("%s got %s twice or the prefix address", name, ip)
			}
			seen[ip] = true
		}
		st.SpectrumApps[a.ID] = a
	}
	_, err := CheckSpectrumApp(st, mk("f0000000000000000000000000000000", "d.example.net"), env)
	if r, _ := RuleOf(err); r != RuleSpectrumPoolExhausted {
		t.Fatalf("full pool: %v", err)
	}
	// A second app of an existing hostname shares its addresses (other port).
	b := mk("e0000000000000000000000000000000", "a.example.net")
	b.Protocol = "tcp/80"
	b.OriginDirect = []string{"tcp://192.0.2.1:80"}
	if _, err := CheckSpectrumApp(st, b, env); err != nil || b.EdgeIPs.IPs[0] != st.SpectrumApps["00000000000000000000000000000000"].EdgeIPs.IPs[0] {
		t.Fatalf("shared hostname: %v %v", b.EdgeIPs.IPs, err)
	}
}

// FuzzSpectrumProtocol: ParseProtocol never panics, rejects with its rule,
// and an accepted protocol is canonical and round-trips.
func FuzzSpectrumProtocol(f *testing.F) {
	for _, s := range []string{"tcp/22", "udp/53", "tcp/1000-2000", "tcp/0", "tcp/65536", "tcp/2000-1000", "tcp/22-22", "minecraft", "TCP/22", "tcp/022", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProtocol(s)
		if err != nil {
			if r, _ := RuleOf(err); r != RuleSpectrumProtocol {
				t.Fatalf("ParseProtocol(%q) error %v has rule %q", s, err, r)
			}
			return
		}
		if p.String() != s || p.Ports.Low == 0 || p.Ports.High < p.Ports.Low {
			t.Fatalf("ParseProtocol(%q) = %v, not canonical", s, p)
		}
	})
}

// FuzzSpectrumOrigin: ParseOrigin never panics, rejects with its rule, and
// an accepted origin re-parses to the same value from its canonical form.
func FuzzSpectrumOrigin(f *testing.F) {
	for _, s := range []string{"tcp://192.0.2.1:22", "udp://192.0.2.1:3000-4000", "tcp://[2001:db8::1]:22", "tcp://2001:db8::1:22",
		"tcp://[fe80::1%eth0]:22", "tcp://[::ffff:192.0.2.1]:22", "http://192.0.2.1:80", "tcp://192.0.2.1:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOrigin(s)
		if err != nil {
			if r, _ := RuleOf(err); r != RuleSpectrumOrigin {
				t.Fatalf("ParseOrigin(%q) error %v has rule %q", s, err, r)
			}
			return
		}
		q, err := ParseOrigin(o.String())
		if err != nil || q != o || o.Addr.Zone() != "" || o.Addr.Is4In6() {
			t.Fatalf("ParseOrigin(%q) = %v; canonical %q re-parses to %v, %v", s, o, o.String(), q, err)
		}
	})
}

// FuzzSpectrumPortRange: ParsePortRange accepts exactly canonical ranges
// 1-65535 with LOW < HIGH, and round-trips them.
func FuzzSpectrumPortRange(f *testing.F) {
	for _, s := range []string{"22", "1000-2000", "0", "65535", "65536", "2-1", "5-5", "01", "1-", "-1", "", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ParsePortRange(s)
		if !ok {
			return
		}
		if r.String() != s || r.Low == 0 || r.High < r.Low || r.Size() < 1 || !r.Overlaps(r) {
			t.Fatalf("ParsePortRange(%q) = %v, not canonical", s, r)
		}
	})
}

func TestDecodePoolAndManagedMaps(t *testing.T) {
	t.Parallel()
	_, err := Decode(strings.NewReader(`
version: 1
validation: {auto_valid: true}
accounts:
  - {id: 258def64c72dae45f3e4c8516e2111f2, byoip_only_map: ["203.0.113.30", "nope"]}
anycast_pool: [198.51.100.0/24, 198.51.100.0/25, "2001:db8:ff::1/48", x]
rules: {spectrum_strict: true}
`))
	var paths []string
	for _, e := range joined(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			paths = append(paths, fe.Path)
		}
	}
	want := "[accounts[0].byoip_only_map[1] anycast_pool[1] anycast_pool[2] anycast_pool[3]]"
	if fmt.Sprint(paths) != want {
		t.Fatalf("paths %v, want %s (err %v)", paths, want, err)
	}
	d := Demo()
	if got := fmt.Sprint(d.Pool()); got != "[198.51.100.0/24 2001:db8:ff::/48]" || d.Rules.SpectrumStrict {
		t.Fatalf("demo pool %s strict %v", got, d.Rules.SpectrumStrict)
	}
	d.Accounts[0].BYOIPOnlyMap = []string{"203.0.113.30"}
	ms := d.ManagedAddressMaps()
	if len(ms) != 1 || ms[0].CanDelete || ms[0].CanModifyIPs || !ms[0].Enabled || ms[0].ID != ManagedMapID(d.Accounts[0].ID) || !IsID(ms[0].ID) ||
		!ms[0].HasMember(MemberAccount, d.Accounts[0].ID) || fmt.Sprint(ms[0].Addrs()) != "[203.0.113.30]" {
		t.Fatalf("managed maps %+v", ms)
	}
}

func joined(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
