package lpm_test

import (
	"fmt"
	"maps"
	"net/netip"
	"sync/atomic"

	"github.com/edgesim/edgesim/lpm"
)

func Example() {
	type app struct{ service, name string }
	tbl, err := lpm.Build(maps.All(map[netip.Prefix]app{
		netip.MustParsePrefix("192.0.2.0/24"):    {"web", "shop"},
		netip.MustParsePrefix("192.0.2.128/25"):  {"web", "blog"},
		netip.MustParsePrefix("2001:db8::/32"):   {"dns", "resolver"},
		netip.MustParsePrefix("2001:db8:1::/48"): {"dns", "authoritative"},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}

	// Publish the immutable table; readers Load it once per request.
	var current atomic.Pointer[lpm.Table[app]]
	current.Store(tbl)

	for _, s := range []string{"192.0.2.7", "192.0.2.200", "::ffff:192.0.2.7", "2001:db8:1::53", "198.51.100.1"} {
		p, a, ok := current.Load().LookupPrefix(netip.MustParseAddr(s))
		fmt.Println(s, p, a, ok)
	}

	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	out := make([]app, len(addrs))
	tbl.LookupBatch(addrs, out, nil)
	fmt.Println(out)
	// Output:
	// 192.0.2.7 192.0.2.0/24 {web shop} true
	// 192.0.2.200 192.0.2.128/25 {web blog} true
	// ::ffff:192.0.2.7 192.0.2.0/24 {web shop} true
	// 2001:db8:1::53 2001:db8:1::/48 {dns authoritative} true
	// 198.51.100.1 invalid Prefix { } false
	// [{web shop} {dns resolver}]
}

func ExampleBuild_error() {
	_, err := lpm.Build(maps.All(map[netip.Prefix]int{
		netip.MustParsePrefix("192.0.2.1/24"): 1,
	}))
	fmt.Println(err)
	// Output:
	// lpm: prefix 192.0.2.1/24 has host bits set; expected 192.0.2.0/24
}
