// Package lpm is edgesim's longest-prefix-match table: the dispatch fast
// path that maps a destination address to the (service, app) that owns it.
//
// A [Table] is built once from a set of routes and never changes:
//
//	tbl, err := lpm.Build(maps.All(map[netip.Prefix]uint32{
//		netip.MustParsePrefix("192.0.2.0/24"):  1,
//		netip.MustParsePrefix("2001:db8::/32"): 2,
//	}))
//	if err != nil {
//		return err // names every invalid, non-canonical or duplicate prefix
//	}
//	v, ok := tbl.Lookup(netip.MustParseAddr("192.0.2.7")) // 1, true
//
// [Table.LookupPrefix] also returns the route that matched, and
// [Table.LookupBatch] resolves many addresses at once, overlapping their
// cache misses (use it where packets or connections arrive in bursts).
//
// # Concurrency
//
// A Table is immutable once [Build] returns it, so any number of goroutines
// may read it at once without locks. To change routes, build a new Table
// and publish it with one atomic.Pointer store; readers Load the pointer
// once per packet, query or batch and keep using that Table. The zero Table
// and a nil *Table are empty tables, so a reader never needs a nil check.
//
// # Structure
//
// Each address family has its own poptrie (Asai & Ohara, SIGCOMM 2015): a
// direct array indexed by the top address bits (IPv4: 18 bits, 16 for
// tables of up to 16k routes; IPv6: 18 bits, so /24, /30, /36, /42 and /48
// fall on node boundaries), then 6-bit-stride nodes whose children and
// leaves are found by popcount. IPv6 subtrees that hold a single prefix are
// path-compressed into one checked leaf. The arrays hold route numbers, not
// pointers, so the garbage collector does not scan them: on the full
// Internet table the index takes about 7.5 bytes per IPv4 prefix and 22.5
// per IPv6 prefix ([Table.MemoryBytes] also counts the route list and the
// values).
//
// # Dependencies
//
// lpm is a data-plane package: it imports only the standard library and
// must not import edgesim's api, store or node packages, nor net/http
// (enforced by deps_test.go).
package lpm
