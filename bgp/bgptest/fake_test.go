package bgptest

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/edgesim/edgesim/bgp"
)

func TestFake(t *testing.T) {
	var f Fake
	ctx := context.Background()
	p := netip.MustParsePrefix("203.0.113.0/24")
	if err := f.SetPeers(ctx, []bgp.PeerConfig{{Address: netip.MustParseAddr("192.0.2.2"), PeerAS: 65001}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx, []bgp.Route{{Prefix: p, Attrs: bgp.Attrs{ASPath: bgp.ASPath(64500, 0)}}}); err != nil {
		t.Fatal(err)
	}
	if a, ok := f.Announced(p); !ok || len(a.ASPath) != 2 {
		t.Fatalf("Announced(%s) = %v, %v", p, a, ok)
	}
	if st := f.Status(); len(st) != 1 || st[0].PrefixesSent != 1 || st[0].State != bgp.StateEstablished {
		t.Fatalf("Status() = %+v", st)
	}
	boom := errors.New("boom")
	f.Err = boom
	if err := f.Sync(ctx, nil); !errors.Is(err, boom) {
		t.Fatalf("Sync with Err set = %v", err)
	}
	if err := f.Sync(ctx, nil); err != nil || len(f.Routes()) != 0 || f.Syncs() != 2 {
		t.Fatalf("Sync(nil) = %v, routes %v, syncs %d", err, f.Routes(), f.Syncs())
	}
	if err := f.SetPeers(ctx, []bgp.PeerConfig{{}}); err == nil {
		t.Fatal("SetPeers accepted an invalid peer")
	}
	f.Close(ctx)
	if err := f.Sync(ctx, nil); !errors.Is(err, bgp.ErrClosed) {
		t.Fatalf("Sync after Close = %v", err)
	}
}
