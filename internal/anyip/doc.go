// Package anyip keeps AnyIP local routes in a network namespace: one route
// of type local in table local on the loopback device per prefix, like
//
//	ip route add local 203.0.113.0/24 dev lo table local proto 237
//
// so that the namespace accepts traffic to every address of the prefix and
// wildcard listeners (the Spectrum proxy's) receive it.
//
// A Table talks rtnetlink over a NETLINK_ROUTE socket (golang.org/x/sys/unix
// only) bound to the network namespace of the thread that called Open.
// Routes it adds carry the routing protocol number Proto (237), and it only
// ever deletes routes carrying it: Sync and Flush find what they own by
// dumping table local and keeping the routes of type local with that
// protocol, so leftovers of a crashed process are removed by the next Sync,
// and routes anyone else added (interface addresses, routes added with
// proto static or kernel) are never touched. List edgesim's routes with
//
//	ip route show table local proto 237
//	ip -6 route show table local proto 237
//
// Changing routes needs CAP_NET_ADMIN in the namespace; Open checks it.
// A Table is safe for concurrent use; its methods are serialized.
//
// Typical usage:
//
//	t, err := anyip.Open()
//	if err != nil { ... }
//	defer t.Close()
//	err = t.Sync([]netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")})
//	...
//	err = t.Flush() // on shutdown
//
// anyip is a leaf: it imports the standard library and x/sys/unix only,
// never the control plane (api, store) or node. Only Linux is supported;
// elsewhere Open returns an error wrapping errors.ErrUnsupported.
package anyip
