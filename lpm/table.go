package lpm

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"unsafe"
)

// Errors returned by Build, wrapped in a *PrefixError that names the prefix.
// Check them with errors.Is.
var (
	// ErrInvalidPrefix reports a prefix that is not valid (the zero Prefix,
	// a length out of range) or that is IPv4-mapped IPv6 (lookups unmap
	// addresses, so such a route could never match).
	ErrInvalidPrefix = errors.New("lpm: invalid prefix")
	// ErrHostBitsSet reports a non-canonical prefix (host bits set).
	ErrHostBitsSet = errors.New("lpm: prefix has host bits set")
	// ErrDuplicatePrefix reports a prefix given more than once.
	ErrDuplicatePrefix = errors.New("lpm: duplicate prefix")
	// ErrTooManyRoutes reports more than 2^26 routes in one family.
	ErrTooManyRoutes = errors.New("lpm: too many routes")
)

// PrefixError is a rejected route.
type PrefixError struct {
	Prefix netip.Prefix
	Err    error // ErrInvalidPrefix, ErrHostBitsSet or ErrDuplicatePrefix
}

func (e *PrefixError) Error() string {
	switch {
	case errors.Is(e.Err, ErrHostBitsSet):
		return fmt.Sprintf("lpm: prefix %s has host bits set; expected %s", e.Prefix, e.Prefix.Masked())
	case errors.Is(e.Err, ErrDuplicatePrefix):
		return fmt.Sprintf("lpm: duplicate prefix %s", e.Prefix)
	case e.Prefix.IsValid() && e.Prefix.Addr().Is4In6():
		return fmt.Sprintf("lpm: invalid prefix %s: IPv4-mapped IPv6 prefixes never match (use the IPv4 form)", e.Prefix)
	default:
		return fmt.Sprintf("lpm: invalid prefix %s", e.Prefix)
	}
}

func (e *PrefixError) Unwrap() error { return e.Err }

// maxErrors bounds the number of *PrefixError values Build joins.
const maxErrors = 100

// Table is an immutable longest-prefix-match table from IPv4 and IPv6
// prefixes to values of type V.
//
// A Table is never modified after Build returns it, so any number of
// goroutines may call its methods concurrently without locking. Publish a
// new Table by swapping an atomic.Pointer[Table[V]]; readers keep using the
// Table they loaded.
//
// The zero Table and a nil *Table are empty: every lookup misses.
//
// The lookup structures are flat slices without Go pointers; values are
// kept in a slice of V indexed by route number, so a V without pointers
// makes the whole Table invisible to the garbage collector's mark phase.
type Table[V any] struct {
	v4, v6 trie

	// Routes in ascending (address, length) order; route number r of a
	// family is entry r of its slices. Entry 0 is "no route" (the zero V),
	// so a lookup reads its value without a branch on hit or miss.
	addr4 []uint32
	bits4 []uint8
	addr6 []addr6
	bits6 []uint8
	val4  []V
	val6  []V

	// The value of each leaf (lv4[i] = val4[v4.leaves[i]]), so a lookup
	// loads its value and route number in parallel instead of as a chain.
	// IPv6 leaves that stand for compressed subtrees have the zero V here;
	// their lookups resolve the route first and read val6.
	lv4 []V
	lv6 []V
}

// addr6 is an IPv6 address as two big-endian halves.
type addr6 struct{ hi, lo uint64 }

// Build returns a Table holding routes. It reports every invalid,
// non-canonical (host bits set) or duplicate prefix, joined with
// errors.Join (at most 100, then a count), each as a *PrefixError; on error
// it returns a nil Table. routes may come in any order.
func Build[V any](routes iter.Seq2[netip.Prefix, V]) (*Table[V], error) {
	var (
		// keys4 sorts IPv4 routes by address, then length: addr<<32 | bits<<26 | input index.
		keys4 []uint64
		in4   []V
		in6   []bpfx
		vin6  []V
		errs  []error
		nerrs int
	)
	reject := func(p netip.Prefix, err error) {
		nerrs++
		if len(errs) < maxErrors {
			errs = append(errs, &PrefixError{Prefix: p, Err: err})
		}
	}
	for p, v := range routes {
		switch {
		case !p.IsValid():
			reject(p, ErrInvalidPrefix)
			continue
		case p.Masked() != p:
			reject(p, ErrHostBitsSet)
			continue
		}
		a := p.Addr()
		if a.Is4() {
			if len(in4) >= maxRoutes {
				return nil, fmt.Errorf("building table: %w: more than %d IPv4 routes", ErrTooManyRoutes, maxRoutes)
			}
			b := a.As4()
			x := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
			keys4 = append(keys4, x<<32|uint64(p.Bits())<<26|uint64(len(in4)))
			in4 = append(in4, v)
			continue
		}
		if a.Is4In6() {
			reject(p, ErrInvalidPrefix)
			continue
		}
		if len(in6) >= maxRoutes {
			return nil, fmt.Errorf("building table: %w: more than %d IPv6 routes", ErrTooManyRoutes, maxRoutes)
		}
		hi, lo := split16(a.As16())
		in6 = append(in6, bpfx{hi: hi, lo: lo, bits: uint32(p.Bits()), route: uint32(len(in6))})
		vin6 = append(vin6, v)
	}

	// IPv4: one integer sort orders by address, then length.
	slices.Sort(keys4)
	for i := 1; i < len(keys4); i++ {
		if keys4[i]>>26 == keys4[i-1]>>26 {
			reject(prefix4(uint32(keys4[i]>>32), uint8(keys4[i]>>26&63)), ErrDuplicatePrefix)
		}
	}
	slices.SortFunc(in6, func(a, b bpfx) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(a.lo, b.lo); c != 0 {
			return c
		}
		return cmp.Compare(a.bits, b.bits)
	})
	for i := 1; i < len(in6); i++ {
		if a, b := in6[i-1], in6[i]; a.hi == b.hi && a.lo == b.lo && a.bits == b.bits {
			reject(prefix6(b.hi, b.lo, uint8(b.bits)), ErrDuplicatePrefix)
		}
	}
	if nerrs > 0 {
		if nerrs > len(errs) {
			errs = append(errs, fmt.Errorf("lpm: %d more rejected prefixes", nerrs-len(errs)))
		}
		return nil, errors.Join(errs...)
	}

	n4, n6 := len(keys4), len(in6)
	t := &Table[V]{
		addr4: make([]uint32, n4+1),
		bits4: make([]uint8, n4+1),
		val4:  make([]V, n4+1),
		addr6: make([]addr6, n6+1),
		bits6: make([]uint8, n6+1),
		val6:  make([]V, n6+1),
	}
	ps := make([]bpfx, n4)
	for i, k := range keys4 {
		a, b := uint32(k>>32), uint8(k>>26&63)
		t.addr4[i+1], t.bits4[i+1], t.val4[i+1] = a, b, in4[k&(1<<26-1)]
		ps[i] = bpfx{hi: uint64(a) << 32, bits: uint32(b), route: uint32(i + 1)}
	}
	s4 := stride4(n4)
	t.v4 = buildTrie(ps, s4, descents(24, s4), false)
	for i := range in6 {
		p := &in6[i]
		t.addr6[i+1], t.bits6[i+1], t.val6[i+1] = addr6{p.hi, p.lo}, uint8(p.bits), vin6[p.route]
		p.route = uint32(i + 1)
	}
	s6 := stride6(n6)
	t.v6 = buildTrie(in6, s6, descents(48, s6), true)
	t.lv4 = leafValues(t.v4.leaves, t.val4)
	t.lv6 = leafValues(t.v6.leaves, t.val6)
	return t, nil
}

func leafValues[V any](leaves []uint32, vals []V) []V {
	lv := make([]V, len(leaves))
	for i, r := range leaves {
		if r&compBit == 0 {
			lv[i] = vals[r]
		}
	}
	return lv
}

// descents returns how many levels a lookup descends below a 2^s direct
// array to reach the node where /bits prefixes end: the levels worth
// walking without branches, since most routes are that long (IPv4 /24,
// IPv6 /48).
func descents(bits, s uint32) uint32 { return (bits-s+stride-1)/stride - 1 }

// stride6 is the width of the IPv6 direct array: 2^18 entries (1 MiB) for
// large tables, so that /24, /30, /36, /42 and /48 end on node boundaries
// (a /48 is 4 levels below the array); 2^16 (256 KiB) for up to 16k routes.
func stride6(n int) uint32 {
	if n <= 16<<10 {
		return 16
	}
	return 18
}

// stride4 is the number of address bits the IPv4 direct array resolves:
// 2^16 entries (256 KiB) keep small tables inside L2; 2^18 (1 MiB) saves a
// level for large ones, where /24 is then one node below the array.
func stride4(n int) uint32 {
	if n <= 16<<10 {
		return 16
	}
	return 18
}

// Lookup returns the value of the longest prefix that contains a, and
// whether there is one. IPv4-mapped IPv6 addresses are looked up as IPv4;
// zones are ignored; the zero Addr never matches.
func (t *Table[V]) Lookup(a netip.Addr) (V, bool) {
	if t == nil {
		var zero V
		return zero, false
	}
	hi, lo := words(a)
	switch {
	case a.Is4() || hi == 0 && lo>>32 == 0xffff && a.Is6():
		if len(t.lv4) != 0 { // not the zero Table
			li := t.v4.lookup4(uint32(lo))
			return t.lv4[li], t.v4.leaves[li] != 0
		}
	case a.Is6():
		if len(t.lv6) != 0 {
			li := t.v6.lookup6(hi, lo)
			r, v := t.v6.leaves[li], t.lv6[li]
			if r&compBit != 0 { // a compressed subtree (rare)
				r = t.v6.resolve(hi, lo, r)
				v = t.val6[r]
			}
			return v, r != 0
		}
	}
	var zero V
	return zero, false
}

// LookupPrefix is like Lookup, and also returns the route that matched.
func (t *Table[V]) LookupPrefix(a netip.Addr) (netip.Prefix, V, bool) {
	var zero V
	if t == nil {
		return netip.Prefix{}, zero, false
	}
	hi, lo := words(a)
	switch {
	case a.Is4() || hi == 0 && lo>>32 == 0xffff && a.Is6():
		if len(t.lv4) == 0 {
			break
		}
		li := t.v4.lookup4(uint32(lo))
		if r := t.v4.leaves[li]; r != 0 {
			return prefix4(t.addr4[r], t.bits4[r]), t.lv4[li], true
		}
	case a.Is6():
		if len(t.val6) == 0 {
			break
		}
		r := t.v6.leaves[t.v6.lookup6(hi, lo)]
		if r&compBit != 0 {
			r = t.v6.resolve(hi, lo, r)
		}
		if r != 0 {
			x := t.addr6[r]
			return prefix6(x.hi, x.lo, t.bits6[r]), t.val6[r], true
		}
	}
	return netip.Prefix{}, zero, false
}

// LookupBatch looks up every address of addrs, like Lookup, and stores the
// results in out[i] and ok[i] (the zero V on a miss). It walks up to 8
// lookups per family in lockstep so that their cache misses overlap, which
// makes it several times faster per address than Lookup on tables larger
// than the CPU caches. out must be at least as long as addrs, and so must
// ok unless it is nil; LookupBatch panics otherwise. It does not allocate.
func (t *Table[V]) LookupBatch(addrs []netip.Addr, out []V, ok []bool) {
	out = out[:len(addrs)]
	if ok != nil {
		ok = ok[:len(addrs)]
	}
	var zero V
	if t == nil {
		for i := range addrs {
			out[i] = zero
		}
		for i := range ok {
			ok[i] = false
		}
		return
	}
	var (
		k4       [lanes]uint32
		hi6, lo6 [lanes]uint64
		pos4     [lanes]int
		pos6     [lanes]int
		res      [lanes]uint32
		n4, n6   int
	)
	flush4 := func() {
		t.v4.batch4(&k4, &res)
		for j := range n4 {
			t.store(out, ok, pos4[j], t.lv4, t.v4.leaves, res[j])
		}
		n4 = 0
	}
	flush6 := func() {
		t.v6.batch6(&hi6, &lo6, &res)
		for j := range n6 {
			if len(t.lv6) == 0 { // the zero Table
				t.store(out, ok, pos6[j], nil, nil, 0)
				continue
			}
			if r := t.v6.leaves[res[j]]; r&compBit != 0 { // a compressed subtree (rare)
				r = t.v6.resolve(hi6[j], lo6[j], r)
				out[pos6[j]] = t.val6[r]
				if ok != nil {
					ok[pos6[j]] = r != 0
				}
				continue
			}
			t.store(out, ok, pos6[j], t.lv6, t.v6.leaves, res[j])
		}
		n6 = 0
	}
	for i, a := range addrs {
		hi, lo := words(a)
		switch {
		case a.Is4() || hi == 0 && lo>>32 == 0xffff && a.Is6():
			k4[n4], pos4[n4] = uint32(lo), i
			if n4++; n4 == lanes {
				flush4()
			}
		case a.Is6():
			hi6[n6], lo6[n6] = hi, lo
			pos6[n6] = i
			if n6++; n6 == lanes {
				flush6()
			}
		default:
			t.store(out, ok, i, nil, nil, 0)
		}
	}
	if n4 > 0 {
		flush4()
	}
	if n6 > 0 {
		flush6()
	}
}

// store writes the result for leaf li to position i.
func (t *Table[V]) store(out []V, ok []bool, i int, lv []V, leaves []uint32, li uint32) {
	if len(lv) == 0 {
		var zero V
		out[i] = zero
		if ok != nil {
			ok[i] = false
		}
		return
	}
	out[i] = lv[li]
	if ok != nil {
		ok[i] = leaves[li] != 0
	}
}

// Len returns the number of routes.
func (t *Table[V]) Len() int {
	if t == nil {
		return 0
	}
	return max(len(t.val4)-1, 0) + max(len(t.val6)-1, 0)
}

// All iterates over the routes: IPv4 before IPv6, each family in ascending
// address order, shorter prefixes first on equal addresses.
func (t *Table[V]) All() iter.Seq2[netip.Prefix, V] {
	return func(yield func(netip.Prefix, V) bool) {
		if t == nil {
			return
		}
		for i := 1; i < len(t.addr4); i++ {
			if !yield(prefix4(t.addr4[i], t.bits4[i]), t.val4[i]) {
				return
			}
		}
		for i := 1; i < len(t.addr6); i++ {
			a := t.addr6[i]
			if !yield(prefix6(a.hi, a.lo, t.bits6[i]), t.val6[i]) {
				return
			}
		}
	}
}

// MemoryBytes returns the size of the table's arrays: the lookup
// structures, the route list kept for LookupPrefix and All, and the values
// (unsafe.Sizeof(V) each, not counting memory V points to; values are
// held twice, once per route and once per leaf).
func (t *Table[V]) MemoryBytes() int {
	if t == nil {
		return 0
	}
	var v V
	return t.v4.bytes() + t.v6.bytes() +
		5*len(t.addr4) + 17*len(t.addr6) +
		int(unsafe.Sizeof(v))*(len(t.val4)+len(t.val6)+len(t.lv4)+len(t.lv6))
}

// as4 returns the IPv4 (or IPv4-mapped) address a as an integer.
func as4(a netip.Addr) uint32 {
	_, lo := words(a)
	return uint32(lo)
}

// split16 returns the 16 bytes of an address as two big-endian halves. For
// an IPv4 address (as16 of it is IPv4-mapped) lo holds 0xffff<<32 | addr.
func split16(b [16]byte) (hi, lo uint64) {
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func prefix4(a uint32, bits uint8) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), int(bits))
}

func prefix6(hi, lo uint64, bits uint8) netip.Prefix {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), int(bits))
}
