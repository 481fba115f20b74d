package lpm

// The lookup structure of one address family is a poptrie (Asai & Ohara,
// SIGCOMM 2015): a direct-pointing array indexed by the top s bits of the
// key, then 6-bit-stride nodes whose children and leaves are addressed by
// popcount instead of pointers. Everything lives in three flat, pointer-free
// slices, so the garbage collector never scans them.
//
// Keys are 128 bits (hi, lo). IPv4 keys are the address in the top 32 bits
// of hi, so one builder serves both families; the lookups are specialized.

// stride is the number of key bits consumed by one node.
const stride = 6

// leafBit marks a dir entry that holds a leaf index rather than a node
// index. Leaves hold route numbers, which are 1-based; 0 means "no route".
const leafBit = uint32(1) << 31

// maxRoutes bounds the routes of one family: leaves hold route numbers
// below leafBit, and the IPv4 sort key keeps 26 bits for the input index.
const maxRoutes = 1 << 26

// node is one 64-slot poptrie node (24 bytes).
type node struct {
	vector  uint64 // bit v set: slot v is an internal child
	leafvec uint64 // bit v set: a run of equal leaves starts at slot v
	base0   uint32 // index of the node's first leaf, minus one
	base1   uint32 // index of the node's first child, minus one
}

const nodeSize = 24

// trie is the lookup structure of one family. Its zero value is empty and
// every lookup on it misses.
//
// Node 0 and leaf 0 are dummies (no children, one run of "no route"). A dir
// entry that holds a leaf sends the walk to node 0, so a lookup runs the
// same instructions whether the dir entry is a leaf or a node, and picks
// the result at the end with a mask instead of a branch (that branch is a
// coin flip on random traffic). Below dir a single lookup follows children
// with an ordinary loop: measured, that beats branch-free fixed-depth walks
// for both families (the loop exit is well predicted). Batches instead walk
// the first ub levels of all lanes in lockstep without branches, which lets
// the lanes' cache misses overlap; a lane that has reached its last node
// stays there.
type trie struct {
	dir    []uint32 // 1<<s entries: leafBit|leaf index, or a node index
	nodes  []node
	leaves []uint32 // route numbers, 0 = no route
	s      uint32   // bits resolved by dir
	ub     uint32   // levels below dir that batches walk without branches

	// comp holds the single-prefix subtrees of a path-compressed trie
	// (IPv6): a leaf with compBit set stands for a whole subtree that
	// holds one prefix, so sparse /48s cost one check instead of a chain
	// of nodes. Entry 0 is a dummy.
	comp []comp
}

// compBit marks a leaf that indexes comp instead of holding a route.
const compBit = uint32(1) << 30

// comp is a subtree with one prefix: the route if the key matches the
// prefix (hi, lo under the masks mhi, mlo), else def.
type comp struct {
	hi, lo, mhi, mlo uint64
	route, def       uint32
}

const compSize = 40

// resolve returns the route of leaf value r for the key (hi, lo): r itself,
// or for a compressed subtree its route or default. No branches: the
// dummy comp[0] is read when r is a plain route.
func (t *trie) resolve(hi, lo uint64, r uint32) uint32 {
	isComp := r >> 30 & 1
	c := &t.comp[r&^compBit&-isComp]
	m := (hi^c.hi)&c.mhi | (lo^c.lo)&c.mlo
	miss := uint32((m | -m) >> 63)
	cr := c.route ^ (c.route^c.def)&-miss
	return r ^ (r^cr)&-isComp
}

// bytes is the size of the trie's arrays.
func (t *trie) bytes() int {
	return 4*len(t.dir) + nodeSize*len(t.nodes) + 4*len(t.leaves) + compSize*len(t.comp)
}

// below returns the bits of slot v and below, for counting children or
// leaf runs up to slot v.
func below(v uint64) uint64 { return uint64(2)<<v - 1 }

// lookup4 returns the index in leaves of the route (leaves[i], 0 = none)
// for the IPv4 address a. The index also selects the route's value in the
// Table's leaf-aligned value slice, so the route number and the value are
// two independent loads rather than a chain.
func (t *trie) lookup4(a uint32) uint32 {
	dir := t.dir
	i := uint64(a) >> (32 - t.s) // s == 0 only for the empty trie: index 0
	if i >= uint64(len(dir)) {
		return 0
	}
	d := dir[i]
	isLeaf := d >> 31
	idx := d & (isLeaf - 1) // node 0 if d holds a route
	nodes := t.nodes
	k := uint64(a) << (32 + t.s)
	n := &nodes[idx]
	v := k >> (64 - stride)
	for n.vector>>v&1 != 0 {
		n = &nodes[n.base1+popcount(n.vector&below(v))]
		k <<= stride
		v = k >> (64 - stride)
	}
	li := n.base0 + popcount(n.leafvec&below(v))
	return li ^ (li^d&^leafBit)&-isLeaf
}

// lookup6 is lookup4 for the IPv6 key (hi, lo). The leaf may stand for a
// compressed subtree (compBit set); resolve turns it into a route.
func (t *trie) lookup6(hi, lo uint64) uint32 {
	dir := t.dir
	s := t.s
	i := hi >> (64 - s) // s == 0 only for the empty trie: index 0
	if i >= uint64(len(dir)) {
		return 0
	}
	d := dir[i]
	isLeaf := d >> 31
	idx := d & (isLeaf - 1)
	n := &t.nodes[idx]
	off := s
	v := uint64(slotAt(hi, lo, off, stride))
	for n.vector>>v&1 != 0 {
		n = &t.nodes[n.base1+popcount(n.vector&below(v))]
		off += stride
		v = uint64(slotAt(hi, lo, off, stride))
	}
	li := n.base0 + popcount(n.leafvec&below(v))
	return li ^ (li^d&^leafBit)&-isLeaf
}

// lanes is the number of lookups a batch walks in lockstep. Their loads are
// independent, so the CPU overlaps the cache misses of all lanes.
const lanes = 8

// batch4 resolves the IPv4 keys in a (all lanes; unused lanes are looked up
// too, harmlessly) stage by stage and stores their leaf indices in res.
func (t *trie) batch4(a *[lanes]uint32, res *[lanes]uint32) {
	dir := t.dir
	if len(dir) == 0 {
		*res = [lanes]uint32{}
		return
	}
	s := t.s
	dm := uint64(len(dir) - 1)
	var d, idx [lanes]uint32
	var k [lanes]uint64
	for i := range lanes {
		d[i] = dir[uint64(a[i])>>(32-s)&dm]
	}
	for i := range lanes {
		idx[i] = d[i] & (d[i]>>31 - 1)
		k[i] = uint64(a[i]) << (32 + s)
	}
	nodes := t.nodes
	for range t.ub {
		for i := range lanes {
			n := &nodes[idx[i]]
			v := k[i] >> (64 - stride)
			next := n.base1 + popcount(n.vector&below(v))
			m := -(n.vector >> v & 1)
			idx[i] ^= (idx[i] ^ next) & uint32(m)
			k[i] ^= (k[i] ^ k[i]<<stride) & m
		}
	}
	var li [lanes]uint32
	for i := range lanes {
		n := &nodes[idx[i]]
		v := k[i] >> (64 - stride)
		for n.vector>>v&1 != 0 {
			n = &nodes[n.base1+popcount(n.vector&below(v))]
			k[i] <<= stride
			v = k[i] >> (64 - stride)
		}
		li[i] = n.base0 + popcount(n.leafvec&below(v))
	}
	for i := range lanes {
		res[i] = li[i] ^ (li[i]^d[i]&^leafBit)&-(d[i]>>31)
	}
}

// batch6 is batch4 for IPv6 keys (leaf indices, like lookup6).
func (t *trie) batch6(hi, lo *[lanes]uint64, res *[lanes]uint32) {
	dir := t.dir
	if len(dir) == 0 {
		*res = [lanes]uint32{}
		return
	}
	s := t.s
	dm := uint64(len(dir) - 1)
	var d, idx, off [lanes]uint32
	var k [lanes]uint64
	for i := range lanes {
		d[i] = dir[hi[i]>>(64-s)&dm]
	}
	for i := range lanes {
		idx[i] = d[i] & (d[i]>>31 - 1)
		k[i] = hi[i] << s
		off[i] = s
	}
	nodes := t.nodes
	for range t.ub {
		for i := range lanes {
			n := &nodes[idx[i]]
			v := k[i] >> (64 - stride)
			next := n.base1 + popcount(n.vector&below(v))
			m := -(n.vector >> v & 1)
			idx[i] ^= (idx[i] ^ next) & uint32(m)
			k[i] ^= (k[i] ^ k[i]<<stride) & m
			off[i] += stride & uint32(m)
		}
	}
	var li [lanes]uint32
	for i := range lanes {
		n := &nodes[idx[i]]
		o := off[i]
		v := uint64(slotAt(hi[i], lo[i], o, stride))
		for n.vector>>v&1 != 0 {
			n = &nodes[n.base1+popcount(n.vector&below(v))]
			o += stride
			v = uint64(slotAt(hi[i], lo[i], o, stride))
		}
		li[i] = n.base0 + popcount(n.leafvec&below(v))
	}
	for i := range lanes {
		res[i] = li[i] ^ (li[i]^d[i]&^leafBit)&-(d[i]>>31)
	}
}

// bpfx is a prefix as the builder sees it: a 128-bit key, its length and
// its route number.
type bpfx struct {
	hi, lo uint64
	bits   uint32
	route  uint32
}

// slotAt returns the n (<= 32) key bits starting at bit off (0 = most
// significant), zero-padded past bit 128.
func slotAt(hi, lo uint64, off, n uint32) uint32 {
	var w uint64
	switch {
	case off >= 128:
		return 0
	case off == 0:
		w = hi
	case off < 64:
		w = hi<<off | lo>>(64-off)
	default:
		w = lo << (off - 64)
	}
	return uint32(w >> (64 - n))
}

// builder accumulates the nodes and leaves of one trie.
type builder struct {
	nodes  []node
	leaves []uint32
	comp   []comp // nil: no path compression
}

// compress reports whether the group ps, below a node level ending at bit
// end, becomes a compressed leaf: one prefix that would otherwise need at
// least two more levels.
func (b *builder) compress(ps []bpfx, end uint32) bool {
	return b.comp != nil && len(ps) == 1 && ps[0].bits > end+stride
}

// addComp records the single-prefix subtree p with default def and returns
// its leaf value.
func (b *builder) addComp(p bpfx, def uint32) uint32 {
	var mhi, mlo uint64
	switch {
	case p.bits >= 64:
		mhi, mlo = ^uint64(0), ^uint64(0)<<(128-p.bits)
	default:
		mhi = ^uint64(0) << (64 - p.bits)
	}
	if p.bits == 128 {
		mlo = ^uint64(0)
	}
	b.comp = append(b.comp, comp{hi: p.hi, lo: p.lo, mhi: mhi, mlo: mlo, route: p.route, def: def})
	return compBit | uint32(len(b.comp)-1)
}

// buildTrie builds a trie with a 2^s direct array from ps, which must be
// sorted by key, then by length, without duplicates. In that order a prefix
// precedes every prefix it contains, so painting in input order leaves the
// longest match in every slot, and the prefixes below one slot are
// contiguous. The build is linear in the input plus the painted slots.
//
// With compress, single-prefix subtrees become compressed leaves (see
// trie.comp). ub must keep s + stride*ub <= 64 (batch6 reads hi only).
func buildTrie(ps []bpfx, s, ub uint32, compress bool) trie {
	if len(ps) == 0 {
		return trie{leaves: []uint32{0}} // every lookup: leaf 0
	}
	dir := make([]uint32, 1<<s)
	for i := range dir {
		dir[i] = leafBit
	}
	b := builder{
		nodes:  make([]node, 1, len(ps)/8+16),
		leaves: make([]uint32, 1, len(ps)+len(ps)/4+64),
	}
	b.nodes[0] = node{leafvec: 1, base0: ^uint32(0), base1: ^uint32(0)} // the dummy
	if compress {
		b.comp = make([]comp, 1, len(ps)/4+1)
	}
	for i := 0; i < len(ps); {
		p := ps[i]
		slot := slotAt(p.hi, p.lo, 0, s)
		if p.bits <= s {
			span := dir[slot : slot+1<<(s-p.bits)]
			for j := range span {
				span[j] = leafBit | p.route
			}
			i++
			continue
		}
		j := i + 1
		for j < len(ps) && ps[j].bits > s && slotAt(ps[j].hi, ps[j].lo, 0, s) == slot {
			j++
		}
		if b.compress(ps[i:j], s) {
			dir[slot] = leafBit | b.addComp(p, dir[slot]&^leafBit)
			i = j
			continue
		}
		idx := uint32(len(b.nodes))
		b.nodes = append(b.nodes, node{})
		b.fill(idx, ps[i:j], s, dir[slot]&^leafBit)
		dir[slot] = idx
		i = j
	}
	// dir entries with routes now point at leaves: one leaf per distinct
	// route (and per compressed subtree), leaf 0 for "no route".
	leafOf := make([]uint32, len(ps)+2)
	for i, d := range dir {
		if d&leafBit == 0 {
			continue
		}
		r := d &^ leafBit
		switch {
		case r&compBit != 0:
			dir[i] = leafBit | uint32(len(b.leaves))
			b.leaves = append(b.leaves, r)
			continue
		case r != 0 && leafOf[r] == 0:
			leafOf[r] = uint32(len(b.leaves))
			b.leaves = append(b.leaves, r)
		}
		dir[i] = leafBit | leafOf[r]
	}
	return trie{
		dir:    dir,
		nodes:  clip(b.nodes),
		leaves: clip(b.leaves),
		comp:   clip(b.comp),
		s:      s,
		ub:     ub,
	}
}

// fill builds node idx, which covers key bits [off, off+stride), from ps
// (all longer than off, sorted) with def as the route inherited from above.
func (b *builder) fill(idx uint32, ps []bpfx, off, def uint32) {
	var slots [1 << stride]uint32
	for i := range slots {
		slots[i] = def
	}
	type group struct {
		slot   uint32
		lo, hi int
	}
	var groups [1 << stride]group
	ng := 0
	end := off + stride
	for i := 0; i < len(ps); {
		p := ps[i]
		v := slotAt(p.hi, p.lo, off, stride)
		if p.bits <= end {
			span := slots[v : v+1<<(end-p.bits)]
			for j := range span {
				span[j] = p.route
			}
			i++
			continue
		}
		j := i + 1
		for j < len(ps) && ps[j].bits > end && slotAt(ps[j].hi, ps[j].lo, off, stride) == v {
			j++
		}
		if b.compress(ps[i:j], end) {
			slots[v] = b.addComp(p, slots[v])
			i = j
			continue
		}
		groups[ng] = group{v, i, j}
		ng++
		i = j
	}
	var vector, leafvec uint64
	for _, g := range groups[:ng] {
		vector |= 1 << g.slot
	}
	base0 := uint32(len(b.leaves))
	prev, first := uint32(0), true
	for v := range uint32(1 << stride) {
		if vector&(1<<v) != 0 {
			continue
		}
		if first || slots[v] != prev {
			leafvec |= 1 << v
			b.leaves = append(b.leaves, slots[v])
			prev, first = slots[v], false
		}
	}
	base1 := uint32(len(b.nodes))
	b.nodes = append(b.nodes, make([]node, ng)...)
	b.nodes[idx] = node{vector: vector, leafvec: leafvec, base0: base0 - 1, base1: base1 - 1}
	for gi, g := range groups[:ng] {
		b.fill(base1+uint32(gi), ps[g.lo:g.hi], end, slots[g.slot])
	}
}

// clip returns s with its capacity trimmed to its length, copying when that
// frees more than a little memory.
func clip[E any](s []E) []E {
	if cap(s)-len(s) > 64 {
		return append(make([]E, 0, len(s)), s...)
	}
	return s[:len(s):len(s)]
}
