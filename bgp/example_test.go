package bgp_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/edgesim/edgesim/bgp"
	"github.com/edgesim/edgesim/bgp/bgptest"
)

// A data-plane component announces through a bgp.Announcer: the real
// *bgp.Speaker in edged, a bgptest.Fake in tests.
func Example() {
	var a bgp.Announcer = &bgptest.Fake{}
	ctx := context.Background()
	_ = a.SetPeers(ctx, []bgp.PeerConfig{{Address: netip.MustParseAddr("192.0.2.2"), PeerAS: 65001}})
	err := a.Sync(ctx, []bgp.Route{{
		Prefix: netip.MustParsePrefix("203.0.113.0/24"),
		Attrs:  bgp.Attrs{ASPath: bgp.ASPath(64500, 1), Communities: []uint32{13335<<16 | 100}},
	}})
	fmt.Println(err, a.Status()[0].State, a.Status()[0].PrefixesSent)
	fmt.Println(bgp.ASPath(64500, 1))
	// Output:
	// <nil> established 1
	// [13335 13335 64500]
}
