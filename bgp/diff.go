package bgp

import (
	"cmp"
	"net/netip"
	"slices"
)

// routeDiff is what Sync must change to turn the applied set into the
// desired one. Each list is sorted (IPv4 first, then by address and length)
// so that updates go out in a stable order.
type routeDiff struct {
	add    []netip.Prefix // not announced yet
	change []netip.Prefix // announced with other attributes
	del    []netip.Prefix // announced, no longer wanted
}

func (d routeDiff) len() int { return len(d.add) + len(d.change) + len(d.del) }

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func diffRoutes(applied, desired map[netip.Prefix]Attrs) routeDiff {
	var d routeDiff
	for p, a := range desired {
		old, ok := applied[p]
		switch {
		case !ok:
			d.add = append(d.add, p)
		case !old.Equal(a):
			d.change = append(d.change, p)
		}
	}
	for p := range applied {
		if _, ok := desired[p]; !ok {
			d.del = append(d.del, p)
		}
	}
	slices.SortFunc(d.add, comparePrefix)
	slices.SortFunc(d.change, comparePrefix)
	slices.SortFunc(d.del, comparePrefix)
	return d
}

// peerDiff is what SetPeers must change. A changed peer is removed and
// added again, which resets only that session.
type peerDiff struct {
	add    []PeerConfig
	change []PeerConfig
	del    []netip.Addr
}

func diffPeers(applied, desired map[netip.Addr]PeerConfig) peerDiff {
	var d peerDiff
	for a, c := range desired {
		old, ok := applied[a]
		switch {
		case !ok:
			d.add = append(d.add, c)
		case old != c:
			d.change = append(d.change, c)
		}
	}
	for a := range applied {
		if _, ok := desired[a]; !ok {
			d.del = append(d.del, a)
		}
	}
	byAddr := func(x, y PeerConfig) int { return x.Address.Compare(y.Address) }
	slices.SortFunc(d.add, byAddr)
	slices.SortFunc(d.change, byAddr)
	slices.SortFunc(d.del, netip.Addr.Compare)
	return d
}

// useBulk decides how Sync applies a diff. Per-path updates cost GoBGP one
// UPDATE message per prefix and peer (~25-40µs each); the bulk path holds
// the changed prefixes back with the export policy and then re-sends the
// whole table with a soft reset, which GoBGP packs (~7µs per prefix in the
// table). Bulk wins once the diff is a quarter of the resulting table.
func useBulk(diff, total int) bool {
	return diff >= bulkMinDiff && 4*diff >= total
}

const bulkMinDiff = 128
