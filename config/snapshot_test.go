package config

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func snapState(now time.Time) *State {
	st := NewState()
	mp := netip.MustParsePrefix
	st.Prefixes["p1"] = &Prefix{ID: "p1", AccountID: "a1", CIDR: mp("203.0.113.0/24"), ASN: 64496, Approved: true}
	st.Prefixes["p2"] = &Prefix{ID: "p2", AccountID: "a1", CIDR: mp("2001:db8:100::/48"), ASN: 13335, Approved: true}
	st.Prefixes["p3"] = &Prefix{ID: "p3", AccountID: "a2", CIDR: mp("198.51.100.0/24"), ASN: 13335} // not approved
	cdn, spectrum := Services()[1].ID, Services()[2].ID
	st.Bindings["b1"] = &Binding{ID: "b1", PrefixID: "p1", CIDR: mp("203.0.113.0/24"), ServiceID: cdn, ActiveAt: now.Add(-time.Hour)}
	st.Bindings["b2"] = &Binding{ID: "b2", PrefixID: "p1", CIDR: mp("203.0.113.16/29"), ServiceID: spectrum, ActiveAt: now.Add(time.Hour)}
	st.Bindings["b3"] = &Binding{ID: "b3", PrefixID: "p2", CIDR: mp("2001:db8:100::/48"), ServiceID: spectrum, ActiveAt: now}
	st.Bindings["b4"] = &Binding{ID: "b4", PrefixID: "p3", CIDR: mp("198.51.100.0/24"), ServiceID: cdn}
	// Advertised and propagated; advertised but still propagating; not advertised.
	st.BGPPrefixes["g1"] = &BGPPrefix{ID: "g1", PrefixID: "p1", CIDR: mp("203.0.113.0/24"), ASNPrependCount: 2, Advertised: true, PropagatedAt: now.Add(-time.Minute)}
	st.BGPPrefixes["g2"] = &BGPPrefix{ID: "g2", PrefixID: "p2", CIDR: mp("2001:db8:100::/48"), Advertised: true, PropagatedAt: now.Add(30 * time.Second)}
	st.BGPPrefixes["g3"] = &BGPPrefix{ID: "g3", PrefixID: "p3", CIDR: mp("198.51.100.0/24"), Advertised: true}
	return st
}

func TestCompile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s, err := Compile(snapState(now), now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr      string
		ok        bool
		binding   string
		service   string
		state     BindingState
		announced string
		served    bool
	}{
		{"203.0.113.1", true, "b1", ServiceCDN, BindingActive, "203.0.113.0/24", true},
		{"203.0.113.18", true, "b2", ServiceSpectrum, BindingProvisioning, "203.0.113.0/24", false},
		{"203.0.113.24", true, "b1", ServiceCDN, BindingActive, "203.0.113.0/24", true},
		{"::ffff:203.0.113.18", true, "b2", ServiceSpectrum, BindingProvisioning, "203.0.113.0/24", false},
		{"2001:db8:100::1", true, "b3", ServiceSpectrum, BindingActive, "", false}, // still propagating
		{"198.51.100.7", true, "b4", ServiceCDN, BindingActive, "", false},         // prefix not approved
		{"192.0.2.1", false, "", "", "", "", false},
	}
	for _, tt := range tests {
		d, ok := s.Lookup(netip.MustParseAddr(tt.addr))
		var ann string
		if d.Announced.IsValid() {
			ann = d.Announced.String()
		}
		if ok != tt.ok || d.Entry.BindingID != tt.binding || d.Entry.Service != tt.service || d.Entry.State != tt.state || ann != tt.announced || d.Served() != tt.served {
			t.Errorf("Lookup(%s) = (%+v served=%v, %v), want binding %q %s %s announced %q served %v",
				tt.addr, d, d.Served(), ok, tt.binding, tt.service, tt.state, tt.announced, tt.served)
		}
	}
	anns := s.Announcements()
	if len(anns) != 1 || anns[0].CIDR.String() != "203.0.113.0/24" || anns[0].ASN != 64496 || anns[0].ASNPrependCount != 2 {
		t.Errorf("Announcements() = %+v, want only 203.0.113.0/24 from AS64496 with prepend 2", anns)
	}
	// g2 is still propagating: staged; g3's prefix is not approved.
	if st := s.Staged(); len(st) != 1 || st[0].CIDR.String() != "2001:db8:100::/48" || st[0].BGPPrefixID != "g2" || st[0].ASN != 13335 {
		t.Errorf("Staged() = %+v, want only 2001:db8:100::/48 (g2)", st)
	}
	if want := now.Add(30 * time.Second); !s.NextChange.Equal(want) {
		t.Errorf("NextChange = %v, want %v (g2 propagates first)", s.NextChange, want)
	}

	// An hour later, everything has propagated and b2 is active.
	later := now.Add(2 * time.Hour)
	s2, err := Compile(snapState(now), later)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := s2.Lookup(netip.MustParseAddr("203.0.113.18")); !d.Served() {
		t.Errorf("after 2h: 203.0.113.18 not served: %+v", d)
	}
	if got := len(s2.Announcements()); got != 2 {
		t.Errorf("after 2h: %d announcements, want 2", got)
	}
	if st := s2.Staged(); len(st) != 0 {
		t.Errorf("after 2h: Staged() = %+v, want none", st)
	}
	if !s2.NextChange.IsZero() {
		t.Errorf("after 2h: NextChange = %v, want zero", s2.NextChange)
	}
}

func TestCompileRejectsDuplicateBinding(t *testing.T) {
	t.Parallel()
	now := time.Now()
	st := snapState(now)
	st.Bindings["dup"] = &Binding{ID: "dup", PrefixID: "p1", CIDR: netip.MustParsePrefix("203.0.113.16/29")}
	if _, err := Compile(st, now); err == nil {
		t.Fatal("Compile accepted two bindings with the same CIDR")
	}
}

func TestHolder(t *testing.T) {
	t.Parallel()
	h := NewHolder()
	if s := h.Load(); s == nil || len(s.Entries()) != 0 {
		t.Fatalf("new Holder: Load() = %v, want an empty snapshot", s)
	}
	if _, ok := h.Load().Lookup(netip.MustParseAddr("203.0.113.1")); ok {
		t.Error("empty snapshot matched an address")
	}
	now := time.Now()
	s, err := Compile(snapState(now), now)
	if err != nil {
		t.Fatal(err)
	}
	h.Store(s)
	if got := h.Load(); got != s || got.Generation != 1 {
		t.Errorf("after Store: generation %d, want the stored snapshot with generation 1", got.Generation)
	}
}

func TestSnapshotLookupAllocs(t *testing.T) {
	now := time.Now()
	s, err := Compile(snapState(now), now)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("203.0.113.18")
	if n := testing.AllocsPerRun(100, func() { s.Lookup(a) }); n != 0 {
		t.Errorf("Snapshot.Lookup allocates %v times, want 0", n)
	}
}

func TestSnapshotSpectrumApps(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	st := snapState(now)
	ip := netip.MustParseAddr("203.0.113.18")
	st.SpectrumApps["z2"] = &SpectrumApp{ID: "z2", Protocol: "tcp/22", CreatedOn: now, EdgeIPs: SpectrumEdgeIPs{Type: EdgeIPsStatic, IPs: []netip.Addr{ip}}}
	st.SpectrumApps["a1"] = &SpectrumApp{ID: "a1", Protocol: "udp/53", CreatedOn: now.Add(time.Minute)}
	st.SpectrumApps["b1"] = &SpectrumApp{ID: "b1", Protocol: "tcp/80", CreatedOn: now}
	s, err := Compile(st, now)
	if err != nil {
		t.Fatal(err)
	}
	apps := s.SpectrumApps()
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	if want := []string{"b1", "z2", "a1"}; !slices.Equal(ids, want) {
		t.Fatalf("SpectrumApps() IDs = %v, want %v (by creation, then ID)", ids, want)
	}
	// The snapshot holds copies: changing the State or a returned app leaves it alone.
	st.SpectrumApps["z2"].EdgeIPs.IPs[0] = netip.MustParseAddr("192.0.2.1")
	apps[1].EdgeIPs.IPs[0] = netip.MustParseAddr("192.0.2.2")
	if got := s.SpectrumApps()[1].EdgeIPs.IPs; len(got) != 1 || got[0] != ip {
		t.Errorf("after mutating the state and a returned app: edge IPs %v, want [%s]", got, ip)
	}
	var nilSnap *Snapshot
	if nilSnap.SpectrumApps() != nil {
		t.Error("nil Snapshot: SpectrumApps() != nil")
	}
}

// A BGP prefix that is not advertised is staged only when it could be
// announced: approved prefix, default binding.
func TestCompileStaged(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	st := snapState(now)
	mp := netip.MustParsePrefix
	st.BGPPrefixes["g1"].Advertised = false // withdrawn, propagated
	st.BGPPrefixes["g4"] = &BGPPrefix{ID: "g4", PrefixID: "p1", CIDR: mp("203.0.113.128/25"), ASNPrependCount: 1}
	st.Prefixes["p5"] = &Prefix{ID: "p5", AccountID: "a1", CIDR: mp("192.0.2.0/24"), ASN: 64496, Approved: true} // no default binding
	st.BGPPrefixes["g5"] = &BGPPrefix{ID: "g5", PrefixID: "p5", CIDR: mp("192.0.2.0/24")}
	s, err := Compile(st, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range s.Staged() {
		got = append(got, a.BGPPrefixID)
	}
	if want := []string{"g1", "g4", "g2"}; !slices.Equal(got, want) {
		t.Errorf("Staged() = %v, want %v", got, want)
	}
	if anns := s.Announcements(); len(anns) != 0 {
		t.Errorf("Announcements() = %+v, want none", anns)
	}
	if st := s.Staged(); st[1].ASNPrependCount != 1 || st[1].ASN != 64496 {
		t.Errorf("Staged()[1] = %+v, want AS64496 with prepend 1", st[1])
	}
}
