package lpm

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// refRoute is one route of the reference tables.
type refRoute struct {
	p netip.Prefix
	v int
}

// linearRef is the slow, obviously correct reference: the routes sorted by
// length, longest first, and a linear scan for the first that contains the
// (unmapped) address.
type linearRef []refRoute

func newLinearRef(routes []refRoute) linearRef {
	r := slices.Clone(routes)
	slices.SortStableFunc(r, func(a, b refRoute) int { return cmp.Compare(b.p.Bits(), a.p.Bits()) })
	return r
}

func (r linearRef) lookup(a netip.Addr) (netip.Prefix, int, bool) {
	a = a.Unmap().WithZone("")
	for _, e := range r {
		if e.p.Contains(a) {
			return e.p, e.v, true
		}
	}
	return netip.Prefix{}, 0, false
}

// mapRef is the reference for large tables, where a linear scan is too
// slow: one map per prefix length, probed from the longest length down.
type mapRef struct {
	lens4, lens6 []int // descending
	m4           [33]map[uint32]refRoute
	m6           [129]map[addr6]refRoute
}

func newMapRef(routes []refRoute) *mapRef {
	r := &mapRef{}
	for _, e := range routes {
		l := e.p.Bits()
		if e.p.Addr().Is4() {
			if r.m4[l] == nil {
				r.m4[l] = map[uint32]refRoute{}
				r.lens4 = append(r.lens4, l)
			}
			r.m4[l][as4(e.p.Addr())] = e
			continue
		}
		if r.m6[l] == nil {
			r.m6[l] = map[addr6]refRoute{}
			r.lens6 = append(r.lens6, l)
		}
		hi, lo := split16(e.p.Addr().As16())
		r.m6[l][addr6{hi, lo}] = e
	}
	slices.Sort(r.lens4)
	slices.Reverse(r.lens4)
	slices.Sort(r.lens6)
	slices.Reverse(r.lens6)
	return r
}

func (r *mapRef) lookup(a netip.Addr) (netip.Prefix, int, bool) {
	a = a.Unmap()
	switch {
	case a.Is4():
		x := as4(a)
		for _, l := range r.lens4 {
			if e, ok := r.m4[l][x&^(1<<(32-l)-1)]; ok {
				return e.p, e.v, true
			}
		}
	case a.Is6():
		hi, lo := split16(a.As16())
		for _, l := range r.lens6 {
			k := addr6{hi, lo}
			switch {
			case l <= 64:
				k.hi &^= 1<<(64-l) - 1
				k.lo = 0
			default:
				k.lo &^= 1<<(128-l) - 1
			}
			if e, ok := r.m6[l][k]; ok {
				return e.p, e.v, true
			}
		}
	}
	return netip.Prefix{}, 0, false
}

// routeSeq adapts a route slice to Build's input.
func routeSeq(routes []refRoute) func(func(netip.Prefix, int) bool) {
	return func(yield func(netip.Prefix, int) bool) {
		for _, e := range routes {
			if !yield(e.p, e.v) {
				return
			}
		}
	}
}

// randomPrefix returns a random canonical prefix. Lengths favour the edges
// (/0, /32, /128) and the common BGP lengths; addresses come from a small
// pool of bases so that nested and adjacent prefixes are frequent.
func randomPrefix(r *rand.Rand, v6 bool, bases []netip.Addr) netip.Prefix {
	a := bases[r.IntN(len(bases))]
	maxBits := 32
	if v6 {
		maxBits = 128
	}
	var bits int
	switch x := r.IntN(10); {
	case x == 0:
		bits = r.IntN(3) // /0../2
	case x == 1:
		bits = maxBits - r.IntN(3) // host routes and near
	default:
		bits = r.IntN(maxBits + 1)
	}
	// flip some bits below the base so that siblings appear
	b := a.AsSlice()
	for range r.IntN(3) {
		i := r.IntN(len(b)*8-8) + 8
		b[i/8] ^= 1 << (7 - i%8)
	}
	a, _ = netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, bits).Masked()
}

func randomBases(r *rand.Rand, v6 bool, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		if v6 {
			var b [16]byte
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			b[0] = 0x20 | b[0]&0x1f // mostly 2000::/3
			if r.IntN(8) == 0 {
				b[0] = byte(r.Uint32())
			}
			out[i] = netip.AddrFrom16(b)
			if out[i].Is4In6() {
				out[i] = netip.IPv6Unspecified()
			}
		} else {
			var b [4]byte
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			out[i] = netip.AddrFrom4(b)
		}
	}
	return out
}

// randomRoutes returns n distinct random routes of both families with
// values equal to their input position.
func randomRoutes(r *rand.Rand, n int) []refRoute {
	b4, b6 := randomBases(r, false, 1+n/16), randomBases(r, true, 1+n/16)
	seen := make(map[netip.Prefix]bool, n)
	out := make([]refRoute, 0, n)
	for len(out) < n {
		v6 := r.IntN(2) == 0
		b := b4
		if v6 {
			b = b6
		}
		p := randomPrefix(r, v6, b)
		if seen[p] || p.Addr().Is4In6() {
			continue
		}
		seen[p] = true
		out = append(out, refRoute{p, len(out)})
	}
	return out
}

// randomIn returns a random address inside p.
func randomIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 0 {
			b[i/8] |= 1 << (7 - i%8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// neighbours returns the addresses just outside p, where they exist.
func neighbours(p netip.Prefix) []netip.Addr {
	var out []netip.Addr
	if a := p.Addr().Prev(); a.IsValid() {
		out = append(out, a)
	}
	if a := lastAddr(p).Next(); a.IsValid() {
		out = append(out, a)
	}
	return out
}

// ---- the Tier-1 table ----

// tier1File locates the Tier-1 snapshot: $LPM_TIER1, the shared data
// directory beside the repository, or the copy inside the bart module.
func tier1File() (string, error) {
	var tried []string
	cands := []string{os.Getenv("LPM_TIER1"), "../../shared/data/tier1-prefixes.txt.gz", "/work/shared/data/tier1-prefixes.txt.gz"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
		tried = append(tried, c)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gaissmai/bart").Output()
	if err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			c := filepath.Join(dir, "internal", "tests", "testdata", "prefixes.txt.gz")
			if _, err := os.Stat(c); err == nil {
				return c, nil
			}
			tried = append(tried, c)
		}
	}
	return "", fmt.Errorf("tier-1 prefix file not found (tried %q; go list: %v); set LPM_TIER1 or run go mod download github.com/gaissmai/bart", tried, err)
}

var (
	tier1Once sync.Once
	tier1v4   []refRoute
	tier1v6   []refRoute
	tier1Err  error
)

// tier1 loads the Tier-1 table once per process: masked, de-duplicated,
// in file order, values = position within the family.
func tier1(tb testing.TB) (v4, v6 []refRoute) {
	tb.Helper()
	tier1Once.Do(func() {
		name, err := tier1File()
		if err != nil {
			tier1Err = err
			return
		}
		f, err := os.Open(name)
		if err != nil {
			tier1Err = err
			return
		}
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			tier1Err = fmt.Errorf("reading %q: %w", name, err)
			return
		}
		seen := make(map[netip.Prefix]bool, 1<<20)
		sc := bufio.NewScanner(gz)
		for sc.Scan() {
			p, err := netip.ParsePrefix(strings.TrimSpace(sc.Text()))
			if err != nil {
				tier1Err = fmt.Errorf("reading %q: %w", name, err)
				return
			}
			p = p.Masked()
			if seen[p] {
				continue
			}
			seen[p] = true
			if p.Addr().Is4() {
				tier1v4 = append(tier1v4, refRoute{p, len(tier1v4)})
			} else {
				tier1v6 = append(tier1v6, refRoute{p, len(tier1v6)})
			}
		}
		if err := sc.Err(); err != nil {
			tier1Err = fmt.Errorf("reading %q: %w", name, err)
		}
	})
	if tier1Err != nil {
		tb.Fatalf("loading tier-1 table: %v", tier1Err)
	}
	return tier1v4, tier1v6
}
