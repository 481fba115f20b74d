package bgp

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestASPath(t *testing.T) {
	for _, tt := range []struct {
		asn     uint32
		prepend int
		want    []uint32
	}{
		{64500, 0, []uint32{13335, 64500}},
		{64500, 2, []uint32{13335, 13335, 13335, 64500}},
		{13335, 0, []uint32{13335}},
		{13335, 1, []uint32{13335, 13335}},
		{0, 0, []uint32{13335}},
		{64500, -1, []uint32{13335, 64500}},
	} {
		if got := ASPath(tt.asn, tt.prepend); !slices.Equal(got, tt.want) {
			t.Errorf("ASPath(%d, %d) = %v, want %v", tt.asn, tt.prepend, got, tt.want)
		}
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestDiffRoutes(t *testing.T) {
	a, b := Attrs{}, Attrs{Communities: []uint32{1}}
	applied := map[netip.Prefix]Attrs{pfx("192.0.2.0/24"): a, pfx("198.51.100.0/24"): a, pfx("2001:db8::/32"): a}
	desired := map[netip.Prefix]Attrs{pfx("192.0.2.0/24"): a, pfx("198.51.100.0/24"): b, pfx("203.0.113.0/24"): a}
	d := diffRoutes(applied, nil, desired, nil)
	if !slices.Equal(d.add, []netip.Prefix{pfx("203.0.113.0/24")}) || !slices.Equal(d.change, []netip.Prefix{pfx("198.51.100.0/24")}) || !slices.Equal(d.del, []netip.Prefix{pfx("2001:db8::/32")}) {
		t.Fatalf("diffRoutes = %+v", d)
	}
	if d := diffRoutes(desired, nil, desired, nil); d.len() != 0 {
		t.Fatalf("diff of equal sets = %+v", d)
	}
}

func TestDiffRoutesStaged(t *testing.T) {
	a, b := Attrs{}, Attrs{ASPath: ASPath(64500, 2)}
	applied := map[netip.Prefix]Attrs{
		pfx("192.0.2.0/26"):  a, // demoted
		pfx("192.0.2.64/26"): a, // removed
	}
	staged := map[netip.Prefix]Attrs{
		pfx("198.51.100.0/26"):   a, // promoted, same attributes
		pfx("198.51.100.64/26"):  a, // announced with other attributes: reloaded
		pfx("198.51.100.128/26"): a, // staged with other attributes: reloaded
		pfx("198.51.100.192/26"): a, // dropped
		pfx("203.0.113.0/26"):    a, // unchanged
	}
	desired := map[netip.Prefix]Attrs{pfx("198.51.100.0/26"): a, pfx("198.51.100.64/26"): b}
	desiredStage := map[netip.Prefix]Attrs{pfx("192.0.2.0/26"): b, pfx("198.51.100.128/26"): b, pfx("203.0.113.0/26"): a, pfx("203.0.113.64/26"): a}
	d := diffRoutes(applied, staged, desired, desiredStage)
	for _, c := range []struct {
		name      string
		got, want []netip.Prefix
	}{
		{"add", d.add, []netip.Prefix{pfx("198.51.100.64/26")}},
		{"change", d.change, nil},
		{"del", d.del, []netip.Prefix{pfx("192.0.2.64/26")}},
		{"promote", d.promote, []netip.Prefix{pfx("198.51.100.0/26")}},
		{"demote", d.demote, []netip.Prefix{pfx("192.0.2.0/26")}},
		{"stage", d.stage, []netip.Prefix{pfx("198.51.100.128/26"), pfx("203.0.113.64/26")}},
		{"unstage", d.unstage, []netip.Prefix{pfx("198.51.100.192/26")}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("diffRoutes %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if d.len() != 4 {
		t.Errorf("len = %d, want 4 (staging changes nothing at the peers)", d.len())
	}
}

func TestUseBulk(t *testing.T) {
	for _, tt := range []struct {
		diff, total int
		want        bool
	}{{1, 1, false}, {127, 127, false}, {128, 128, true}, {100000, 100000, true}, {1000, 100000, false}, {25000, 100000, true}, {500, 0, true}} {
		if got := useBulk(tt.diff, tt.total); got != tt.want {
			t.Errorf("useBulk(%d, %d) = %v, want %v", tt.diff, tt.total, got, tt.want)
		}
	}
}

func TestDiffPeers(t *testing.T) {
	p1 := PeerConfig{Address: netip.MustParseAddr("192.0.2.2"), PeerAS: 1}
	p2 := PeerConfig{Address: netip.MustParseAddr("192.0.2.3"), PeerAS: 1}
	p2b := p2
	p2b.HoldTime = 9 * time.Second
	p3 := PeerConfig{Address: netip.MustParseAddr("192.0.2.4"), PeerAS: 1}
	d := diffPeers(map[netip.Addr]PeerConfig{p1.Address: p1, p2.Address: p2}, map[netip.Addr]PeerConfig{p2.Address: p2b, p3.Address: p3})
	if len(d.add) != 1 || d.add[0] != p3 || len(d.change) != 1 || d.change[0] != p2b || !slices.Equal(d.del, []netip.Addr{p1.Address}) {
		t.Fatalf("diffPeers = %+v", d)
	}
}

func TestValidateRoutes(t *testing.T) {
	_, err := validateRoutes([]Route{
		{Prefix: pfx("203.0.113.1/24")},
		{Prefix: netip.PrefixFrom(netip.MustParseAddr("::ffff:192.0.2.0"), 120)},
		{Prefix: pfx("192.0.2.0/24"), Attrs: Attrs{ASPath: []uint32{64500}}},
		{Prefix: pfx("198.51.100.0/24")},
		{Prefix: pfx("198.51.100.0/24"), Attrs: Attrs{Communities: []uint32{1}}},
		{},
	}, 13335)
	for _, want := range []string{"non-address bits", "IPv4-mapped", "must start with the local AS", "listed twice", "invalid prefix"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validateRoutes error %v, want it to mention %q", err, want)
		}
	}
	m, err := validateRoutes([]Route{{Prefix: pfx("2001:db8:100::/48"), Attrs: Attrs{ASPath: ASPath(64500, 1)}}}, 13335)
	if err != nil || len(m) != 1 {
		t.Fatalf("validateRoutes(valid) = %v, %v", m, err)
	}
}

func TestPeerConfigValidate(t *testing.T) {
	ok := PeerConfig{Address: netip.MustParseAddr("192.0.2.2"), PeerAS: 65001, HoldTime: 9 * time.Second, KeepaliveInterval: 3 * time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := PeerConfig{Address: netip.MustParseAddr("::ffff:192.0.2.2"), HoldTime: 1500 * time.Millisecond, KeepaliveInterval: 100 * time.Second, RestartTime: time.Second}
	err := bad.Validate()
	for _, want := range []string{"IPv4-mapped", "peer_as", "hold_time", "keepalive_interval", "restart_time"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	o := Options{RouterID: netip.MustParseAddr("2001:db8::1"), ListenPort: 70000, NextHop6: netip.MustParseAddr("192.0.2.1")}
	err = o.Validate()
	for _, want := range []string{"router id", "listen port", "next hop v6"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Options.Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestEncoderSharesAttrs(t *testing.T) {
	e := newEncoder(netip.Addr{}, netip.Addr{})
	a := Attrs{ASPath: ASPath(64500, 2), Communities: []uint32{1}, LargeCommunities: [][3]uint32{{13335, 1, 2}}}
	p1, err := e.path(pfx("203.0.113.0/24"), a)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.path(pfx("198.51.100.0/24"), a)
	if err != nil {
		t.Fatal(err)
	}
	if &p1.PattrsBinary[0][0] != &p2.PattrsBinary[0][0] || len(e.cache) != 1 {
		t.Error("prefixes with equal attributes do not share their encoding")
	}
	if _, err := e.path(pfx("2001:db8:100::/48"), a); err != nil {
		t.Fatal(err)
	}
	if got := nlriBinary(pfx("203.0.113.0/24")); !slices.Equal(got, []byte{24, 203, 0, 113}) {
		t.Errorf("nlriBinary = %v", got)
	}
	if addr, ok := procAddr("0100007F:0050"); !ok || addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("procAddr = %v %v", addr, ok)
	}
}
