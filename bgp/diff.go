package bgp

import (
	"cmp"
	"net/netip"
	"slices"
)

// routeDiff is what Sync must change to turn the loaded paths (announced
// and staged) into the desired ones. Each list is sorted (IPv4 first, then
// by address and length) so that updates go out in a stable order. The
// first five lists change what peers hold; stage and unstage do not.
type routeDiff struct {
	add     []netip.Prefix // not announced yet: load (unless promote) and allow
	change  []netip.Prefix // announced with other attributes
	del     []netip.Prefix // announced, no longer wanted
	promote []netip.Prefix // staged with the wanted attributes: allow only
	demote  []netip.Prefix // announced, now staged: withdraw, keep the path
	stage   []netip.Prefix // to load as staged: not loaded, or staged with other attributes
	unstage []netip.Prefix // staged, no longer wanted: delete the path
}

// len counts the prefixes whose state at the peers changes.
func (d routeDiff) len() int {
	return len(d.add) + len(d.change) + len(d.del) + len(d.promote) + len(d.demote)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// diffRoutes compares the announced (applied) and staged paths with the
// desired announced and staged sets; desiredStage holds no prefix of
// desired. A staged prefix that becomes announced with other attributes
// is an add: its path is replaced. An announced prefix that becomes
// staged is a demote whatever its staged attributes: it keeps its path.
func diffRoutes(applied, staged, desired, desiredStage map[netip.Prefix]Attrs) routeDiff {
	var d routeDiff
	for p, a := range desired {
		if old, ok := applied[p]; ok {
			if !old.Equal(a) {
				d.change = append(d.change, p)
			}
			continue
		}
		if st, ok := staged[p]; ok && st.Equal(a) {
			d.promote = append(d.promote, p)
			continue
		}
		d.add = append(d.add, p)
	}
	for p := range applied {
		if _, ok := desired[p]; ok {
			continue
		}
		if _, ok := desiredStage[p]; ok {
			d.demote = append(d.demote, p)
		} else {
			d.del = append(d.del, p)
		}
	}
	for p, a := range desiredStage {
		if _, ok := applied[p]; ok {
			continue // demote
		}
		if st, ok := staged[p]; !ok || !st.Equal(a) {
			d.stage = append(d.stage, p)
		}
	}
	for p := range staged {
		_, ok1 := desired[p]
		_, ok2 := desiredStage[p]
		if !ok1 && !ok2 {
			d.unstage = append(d.unstage, p)
		}
	}
	for _, l := range [][]netip.Prefix{d.add, d.change, d.del, d.promote, d.demote, d.stage, d.unstage} {
		slices.SortFunc(l, comparePrefix)
	}
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
