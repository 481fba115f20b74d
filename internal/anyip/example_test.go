package anyip_test

import (
	"log"
	"net/netip"

	"github.com/edgesim/edgesim/internal/anyip"
)

// Make the current network namespace accept traffic for two whole
// prefixes, then remove the routes again. Needs CAP_NET_ADMIN, so it is
// compiled but not run.
func Example() {
	t, err := anyip.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	want := []netip.Prefix{
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8:100::/48"),
	}
	if err := t.Sync(want); err != nil {
		log.Print(err) // e.g. anyip: adding local route 2001:db8:100::/48: network is down (ENETDOWN): ...
	}
	// `ip route show table local proto 237` now lists both.
	if err := t.Flush(); err != nil {
		log.Print(err)
	}
}
