package node

import (
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/edgesim/edgesim/bgp"
	"github.com/edgesim/edgesim/bgp/bgptest"
	"github.com/edgesim/edgesim/config"
)

// The announcer announces the advertised BGP prefixes and the pool, and
// stages the BGP prefixes that would be announced if advertised.
func TestAnnouncerStages(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	st := config.NewState()
	mp := netip.MustParsePrefix
	for i, c := range []struct {
		cidr       string
		advertised bool
		approved   bool
	}{
		{"192.0.2.0/24", true, true},
		{"198.51.100.0/24", false, true},   // staged
		{"2001:db8:100::/48", false, true}, // staged
		{"203.0.113.0/24", false, false},   // not approved: neither
	} {
		id := string(rune('a' + i))
		p := mp(c.cidr)
		st.Prefixes["p"+id] = &config.Prefix{ID: "p" + id, AccountID: "acct", CIDR: p, ASN: 64500, Approved: c.approved}
		st.Bindings["b"+id] = &config.Binding{ID: "b" + id, PrefixID: "p" + id, CIDR: p, ServiceID: config.Services()[1].ID}
		st.BGPPrefixes["g"+id] = &config.BGPPrefix{ID: "g" + id, PrefixID: "p" + id, CIDR: p, ASNPrependCount: 1, Advertised: c.advertised}
	}
	s, err := config.Compile(st, now)
	if err != nil {
		t.Fatal(err)
	}
	s.Generation = 1
	f := &bgptest.Fake{}
	pool := mp("100.64.0.0/24")
	a := newAnnouncer(f, bgp.Attrs{Communities: []uint32{13335<<16 | 100}}, []netip.Prefix{pool}, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	go a.run(ctx)
	a.publish(s)
	deadline := time.Now().Add(5 * time.Second)
	for f.Syncs() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the announcer never synced")
		}
		time.Sleep(10 * time.Millisecond)
	}
	prefixes := func(rs []bgp.Route) []netip.Prefix {
		var out []netip.Prefix
		for _, r := range rs {
			out = append(out, r.Prefix)
		}
		return out
	}
	if got, want := prefixes(f.Routes()), []netip.Prefix{pool, mp("192.0.2.0/24")}; !slices.Equal(got, want) {
		t.Errorf("announced %v, want %v", got, want)
	}
	staged := f.Staged()
	if got, want := prefixes(staged), []netip.Prefix{mp("198.51.100.0/24"), mp("2001:db8:100::/48")}; !slices.Equal(got, want) {
		t.Errorf("staged %v, want %v", got, want)
	}
	want := bgp.Attrs{ASPath: bgp.ASPath(64500, 1), Communities: []uint32{13335<<16 | 100}}
	for _, r := range staged {
		if !r.Attrs.Equal(want) {
			t.Errorf("staged %s with %+v, want %+v (the attributes it would be announced with)", r.Prefix, r.Attrs, want)
		}
	}
}
