package lpm

import (
	"errors"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func mustBuild[V any](t testing.TB, m map[netip.Prefix]V) *Table[V] {
	t.Helper()
	tbl, err := Build(maps.All(m))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tbl
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func TestLookup(t *testing.T) {
	t.Parallel()
	tbl := mustBuild(t, map[netip.Prefix]string{
		pfx("0.0.0.0/0"):           "default4",
		pfx("192.0.2.0/24"):        "doc1",
		pfx("192.0.2.128/25"):      "doc1-hi",
		pfx("192.0.2.255/32"):      "doc1-bcast",
		pfx("198.51.100.0/24"):     "doc2",
		pfx("198.51.101.0/24"):     "doc2-adjacent",
		pfx("203.0.113.0/30"):      "doc3-tiny",
		pfx("2001:db8::/32"):       "doc6",
		pfx("2001:db8:1::/48"):     "doc6-48",
		pfx("2001:db8:1:2::/64"):   "doc6-64",
		pfx("2001:db8:1:2::1/128"): "doc6-host",
	})
	tests := []struct {
		addr    string
		want    string
		wantPfx string
	}{
		{"192.0.2.1", "doc1", "192.0.2.0/24"},
		{"192.0.2.127", "doc1", "192.0.2.0/24"},
		{"192.0.2.128", "doc1-hi", "192.0.2.128/25"},
		{"192.0.2.254", "doc1-hi", "192.0.2.128/25"},
		{"192.0.2.255", "doc1-bcast", "192.0.2.255/32"},
		{"198.51.100.255", "doc2", "198.51.100.0/24"},
		{"198.51.101.0", "doc2-adjacent", "198.51.101.0/24"},
		{"198.51.102.0", "default4", "0.0.0.0/0"},
		{"203.0.113.3", "doc3-tiny", "203.0.113.0/30"},
		{"203.0.113.4", "default4", "0.0.0.0/0"},
		{"::ffff:192.0.2.200", "doc1-hi", "192.0.2.128/25"}, // IPv4-mapped: unmapped
		{"2001:db8::1", "doc6", "2001:db8::/32"},
		{"2001:db8:1::1", "doc6-48", "2001:db8:1::/48"},
		{"2001:db8:1:2::2", "doc6-64", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "doc6-host", "2001:db8:1:2::1/128"},
		{"2001:db8:1:2::1%eth0", "doc6-host", "2001:db8:1:2::1/128"}, // zone ignored
		{"2001:db9::", "", ""},
		{"::", "", ""},
	}
	for _, tt := range tests {
		a := addr(tt.addr)
		v, ok := tbl.Lookup(a)
		if v != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%q) = (%q, %v), want (%q, %v)", tt.addr, v, ok, tt.want, tt.want != "")
		}
		p, v, ok := tbl.LookupPrefix(a)
		var wantP netip.Prefix
		if tt.wantPfx != "" {
			wantP = pfx(tt.wantPfx)
		}
		if p != wantP || v != tt.want || ok != (tt.want != "") {
			t.Errorf("LookupPrefix(%q) = (%v, %q, %v), want (%v, %q, %v)", tt.addr, p, v, ok, wantP, tt.want, tt.want != "")
		}
	}
	if v, ok := tbl.Lookup(netip.Addr{}); ok || v != "" {
		t.Errorf("Lookup(zero Addr) = (%q, %v), want (\"\", false)", v, ok)
	}
	if got := tbl.Len(); got != 11 {
		t.Errorf("Len() = %d, want 11", got)
	}
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	empty, err := Build(maps.All(map[netip.Prefix]int{}))
	if err != nil {
		t.Fatal(err)
	}
	for name, tbl := range map[string]*Table[int]{"nil": nil, "zero": {}, "built": empty} {
		for _, a := range []netip.Addr{addr("192.0.2.1"), addr("2001:db8::1"), addr("::ffff:192.0.2.1"), {}} {
			if v, ok := tbl.Lookup(a); ok || v != 0 {
				t.Errorf("%s: Lookup(%v) = (%d, %v), want (0, false)", name, a, v, ok)
			}
			if p, v, ok := tbl.LookupPrefix(a); ok || v != 0 || p.IsValid() {
				t.Errorf("%s: LookupPrefix(%v) = (%v, %d, %v), want miss", name, a, p, v, ok)
			}
		}
		out, ok := []int{7, 7, 7}, []bool{true, true, true}
		tbl.LookupBatch([]netip.Addr{addr("192.0.2.1"), addr("2001:db8::1"), {}}, out, ok)
		if !slices.Equal(out, []int{0, 0, 0}) || !slices.Equal(ok, []bool{false, false, false}) {
			t.Errorf("%s: LookupBatch = %v %v, want all misses", name, out, ok)
		}
		if tbl.Len() != 0 || tbl.MemoryBytes() < 0 {
			t.Errorf("%s: Len() = %d", name, tbl.Len())
		}
		for p := range tbl.All() {
			t.Errorf("%s: All() yielded %v", name, p)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		routes  []netip.Prefix
		wantErr []error
		wantMsg []string
	}{
		{"host bits v4", []netip.Prefix{pfx("192.0.2.1/24")}, []error{ErrHostBitsSet},
			[]string{"lpm: prefix 192.0.2.1/24 has host bits set; expected 192.0.2.0/24"}},
		{"host bits v6", []netip.Prefix{pfx("2001:db8::1/32")}, []error{ErrHostBitsSet},
			[]string{"lpm: prefix 2001:db8::1/32 has host bits set; expected 2001:db8::/32"}},
		{"invalid", []netip.Prefix{{}}, []error{ErrInvalidPrefix}, []string{"lpm: invalid prefix invalid Prefix"}},
		{"invalid length", []netip.Prefix{netip.PrefixFrom(addr("192.0.2.0"), 33)}, []error{ErrInvalidPrefix}, nil},
		{"mapped", []netip.Prefix{pfx("::ffff:192.0.2.0/120")}, []error{ErrInvalidPrefix},
			[]string{"lpm: invalid prefix ::ffff:192.0.2.0/120: IPv4-mapped IPv6 prefixes never match (use the IPv4 form)"}},
		{"duplicate v4", []netip.Prefix{pfx("192.0.2.0/24"), pfx("198.51.100.0/24"), pfx("192.0.2.0/24")}, []error{ErrDuplicatePrefix},
			[]string{"lpm: duplicate prefix 192.0.2.0/24"}},
		{"duplicate v6", []netip.Prefix{pfx("2001:db8::/48"), pfx("2001:db8::/48")}, []error{ErrDuplicatePrefix},
			[]string{"lpm: duplicate prefix 2001:db8::/48"}},
		{"all reported", []netip.Prefix{pfx("192.0.2.1/24"), pfx("2001:db8::/48"), pfx("2001:db8::/48"), {}},
			[]error{ErrHostBitsSet, ErrDuplicatePrefix, ErrInvalidPrefix}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := func(yield func(netip.Prefix, int) bool) {
				for i, p := range tt.routes {
					if !yield(p, i) {
						return
					}
				}
			}
			tbl, err := Build(seq)
			if err == nil || tbl != nil {
				t.Fatalf("Build(%v) = (%v, %v), want error", tt.routes, tbl, err)
			}
			for _, w := range tt.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("Build(%v) error %q does not wrap %v", tt.routes, err, w)
				}
			}
			var pe *PrefixError
			if !errors.As(err, &pe) {
				t.Errorf("Build(%v) error %q is not a *PrefixError", tt.routes, err)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Build(%v) error %q, want it to contain %q", tt.routes, err, m)
				}
			}
		})
	}
}

func TestBuildErrorsCapped(t *testing.T) {
	t.Parallel()
	seq := func(yield func(netip.Prefix, int) bool) {
		for i := range 1000 {
			if !yield(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i) | 1}), 24), i) {
				return
			}
		}
	}
	_, err := Build(seq)
	if err == nil || !strings.Contains(err.Error(), "lpm: 900 more rejected prefixes") {
		t.Fatalf("Build of 1000 bad prefixes: error %v, want a capped list", err)
	}
}

// checkTable compares every lookup method of tbl with ref on addrs.
func checkTable(t *testing.T, tbl *Table[int], ref func(netip.Addr) (netip.Prefix, int, bool), addrs []netip.Addr) {
	t.Helper()
	out := make([]int, len(addrs))
	oks := make([]bool, len(addrs))
	tbl.LookupBatch(addrs, out, oks)
	for i, a := range addrs {
		wp, wv, wok := ref(a)
		if v, ok := tbl.Lookup(a); v != wv || ok != wok {
			t.Fatalf("Lookup(%v) = (%d, %v), want (%d, %v) from %v", a, v, ok, wv, wok, wp)
		}
		if p, v, ok := tbl.LookupPrefix(a); p != wp || v != wv || ok != wok {
			t.Fatalf("LookupPrefix(%v) = (%v, %d, %v), want (%v, %d, %v)", a, p, v, ok, wp, wv, wok)
		}
		if out[i] != wv || oks[i] != wok {
			t.Fatalf("LookupBatch[%d](%v) = (%d, %v), want (%d, %v)", i, a, out[i], oks[i], wv, wok)
		}
	}
}

// probesFor returns, for every route, its first and last address, and for
// every route in `every` also a random address inside it and the addresses
// just outside it, plus n random addresses of both families.
func probesFor(r *rand.Rand, routes []refRoute, every, n int) []netip.Addr {
	out := make([]netip.Addr, 0, 2*len(routes)+3*len(routes)/every+n+64)
	for i, e := range routes {
		out = append(out, e.p.Addr(), lastAddr(e.p))
		if i%every == 0 {
			out = append(out, randomIn(r, e.p))
			out = append(out, neighbours(e.p)...)
		}
	}
	b4, b6 := randomBases(r, false, 64), randomBases(r, true, 64)
	for range n {
		switch r.IntN(4) {
		case 0:
			out = append(out, randomBases(r, false, 1)[0])
		case 1:
			out = append(out, randomBases(r, true, 1)[0])
		case 2:
			out = append(out, randomIn(r, randomPrefix(r, false, b4)))
		default:
			out = append(out, randomIn(r, randomPrefix(r, true, b6)))
		}
	}
	// some IPv4-mapped IPv6 addresses
	for i := range min(len(out), 64) {
		if a := out[i]; a.Is4() {
			out = append(out, netip.AddrFrom16(a.As16()))
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestRandomTables(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(42, 42))
	for _, n := range []int{1, 2, 5, 20, 100, 500, 2000, 20000} {
		reps := 20
		if n >= 2000 {
			reps = 2
		}
		for range reps {
			routes := randomRoutes(r, n)
			// always include some edges
			if r.IntN(2) == 0 {
				routes = appendNew(routes, pfx("0.0.0.0/0"), pfx("::/0"))
			}
			tbl, err := Build(routeSeq(routes))
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if tbl.Len() != len(routes) {
				t.Fatalf("Len() = %d, want %d", tbl.Len(), len(routes))
			}
			var ref func(netip.Addr) (netip.Prefix, int, bool)
			if n <= 2000 {
				ref = newLinearRef(routes).lookup
			} else {
				ref = newMapRef(routes).lookup
			}
			checkTable(t, tbl, ref, probesFor(r, routes, 1, 2000))
			checkAll(t, tbl, routes)
		}
	}
}

// appendNew appends the prefixes not yet in routes.
func appendNew(routes []refRoute, ps ...netip.Prefix) []refRoute {
	for _, p := range ps {
		if !slices.ContainsFunc(routes, func(e refRoute) bool { return e.p == p }) {
			routes = append(routes, refRoute{p, len(routes)})
		}
	}
	return routes
}

// checkAll checks that All yields exactly routes, IPv4 first, each family
// sorted by address then length, and stops when asked to.
func checkAll(t *testing.T, tbl *Table[int], routes []refRoute) {
	t.Helper()
	var got []refRoute
	for p, v := range tbl.All() {
		got = append(got, refRoute{p, v})
	}
	want := slices.Clone(routes)
	slices.SortFunc(want, func(a, b refRoute) int {
		if a.p.Addr().Is4() != b.p.Addr().Is4() {
			if a.p.Addr().Is4() {
				return -1
			}
			return 1
		}
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return a.p.Bits() - b.p.Bits()
	})
	if !slices.Equal(got, want) {
		t.Fatalf("All() yielded %d routes, want %d (first difference at %d)", len(got), len(want),
			slices.IndexFunc(got, func(e refRoute) bool { return !slices.Contains(want, e) }))
	}
	n := 0
	for range tbl.All() {
		n++
		break
	}
	if len(routes) > 0 && n != 1 {
		t.Fatalf("All() did not stop after break")
	}
}

func TestRefsAgree(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(42, 42))
	for range 20 {
		routes := randomRoutes(r, 300)
		lin, mr := newLinearRef(routes), newMapRef(routes)
		for _, a := range probesFor(r, routes, 1, 500) {
			p1, v1, ok1 := lin.lookup(a)
			p2, v2, ok2 := mr.lookup(a)
			if p1 != p2 || v1 != v2 || ok1 != ok2 {
				t.Fatalf("refs disagree on %v: linear (%v,%d,%v), maps (%v,%d,%v)", a, p1, v1, ok1, p2, v2, ok2)
			}
		}
	}
}

// TestTier1 checks the real Tier-1 table: the first and last address of
// every prefix, the addresses just outside it and random addresses, against
// the map reference. -short (and the race detector) sample 1 prefix in 20.
func TestTier1(t *testing.T) {
	t.Parallel()
	v4, v6 := tier1(t)
	if len(v4) < 900_000 || len(v6) < 160_000 {
		t.Fatalf("tier-1 table has %d IPv4 and %d IPv6 prefixes, want 901899 and 160147", len(v4), len(v6))
	}
	routes := make([]refRoute, 0, len(v4)+len(v6))
	for _, e := range v4 {
		routes = append(routes, refRoute{e.p, len(routes)})
	}
	for _, e := range v6 {
		routes = append(routes, refRoute{e.p, len(routes)})
	}
	tbl, err := Build(routeSeq(routes))
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Len() != len(routes) {
		t.Fatalf("Len() = %d, want %d", tbl.Len(), len(routes))
	}
	ref := newMapRef(routes)
	sample := routes
	if testing.Short() || raceEnabled {
		r := rand.New(rand.NewPCG(42, 42))
		sample = nil
		for _, e := range routes {
			if r.IntN(20) == 0 {
				sample = append(sample, e)
			}
		}
	}
	r := rand.New(rand.NewPCG(42, 42))
	probes := probesFor(r, sample, 4, len(sample)/4)
	checkTable(t, tbl, ref.lookup, probes)
	t.Logf("%d routes, %d probes checked; %.2f B/prefix IPv4 lookup structure, %.2f B/prefix IPv6, %.2f B/prefix in all (MemoryBytes)",
		len(routes), len(probes), float64(tbl.v4.bytes())/float64(len(v4)), float64(tbl.v6.bytes())/float64(len(v6)),
		float64(tbl.MemoryBytes())/float64(len(routes)))
	if !testing.Short() && !raceEnabled {
		checkAll(t, tbl, routes)
	}
}

// TestMemory holds the lookup structures to their byte budgets on the
// Tier-1 table: 8 bytes per IPv4 prefix, 24 per IPv6 prefix (the route
// numbers in the leaves included; the route list and values excluded).
func TestMemory(t *testing.T) {
	t.Parallel()
	v4, v6 := tier1(t)
	t4, err := Build(routeSeq(v4))
	if err != nil {
		t.Fatal(err)
	}
	t6, err := Build(routeSeq(v6))
	if err != nil {
		t.Fatal(err)
	}
	b4 := float64(t4.v4.bytes()) / float64(len(v4))
	b6 := float64(t6.v6.bytes()) / float64(len(v6))
	t.Logf("IPv4: %d nodes, %d leaves, %d B (%.2f B/prefix); IPv6: %d nodes, %d leaves, %d B (%.2f B/prefix); MemoryBytes %.2f and %.2f B/prefix",
		len(t4.v4.nodes), len(t4.v4.leaves), t4.v4.bytes(), b4, len(t6.v6.nodes), len(t6.v6.leaves), t6.v6.bytes(), b6,
		float64(t4.MemoryBytes())/float64(len(v4)), float64(t6.MemoryBytes())/float64(len(v6)))
	if b4 > 8 {
		t.Errorf("IPv4 lookup structure uses %.2f B/prefix, want <= 8", b4)
	}
	if b6 > 24 {
		t.Errorf("IPv6 lookup structure uses %.2f B/prefix, want <= 24", b6)
	}
}

func TestNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	routes := randomRoutes(r, 5000)
	tbl, err := Build(routeSeq(routes))
	if err != nil {
		t.Fatal(err)
	}
	addrs := probesFor(r, routes[:200], 1, 200)
	out, oks := make([]int, len(addrs)), make([]bool, len(addrs))
	var sink int
	tests := map[string]func(){
		"Lookup": func() {
			for _, a := range addrs {
				v, _ := tbl.Lookup(a)
				sink += v
			}
		},
		"LookupPrefix": func() {
			for _, a := range addrs {
				_, v, _ := tbl.LookupPrefix(a)
				sink += v
			}
		},
		"LookupBatch":      func() { tbl.LookupBatch(addrs, out, oks) },
		"LookupBatchNilOk": func() { tbl.LookupBatch(addrs, out, nil) },
	}
	for name, fn := range tests {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
	_ = sink
}

// TestConcurrentReaders publishes tables through an atomic.Pointer while
// readers look up; run with -race.
func TestConcurrentReaders(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(42, 42))
	routes := randomRoutes(r, 2000)
	addrs := probesFor(r, routes[:100], 1, 100)
	var cur atomic.Pointer[Table[int]]
	cur.Store(&Table[int]{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			out, ok := make([]int, len(addrs)), make([]bool, len(addrs))
			for {
				select {
				case <-stop:
					return
				default:
				}
				tbl := cur.Load()
				for _, a := range addrs {
					tbl.Lookup(a)
					tbl.LookupPrefix(a)
				}
				tbl.LookupBatch(addrs, out, ok)
			}
		})
	}
	for i := range 10 {
		tbl, err := Build(routeSeq(routes[:200*(i+1)]))
		if err != nil {
			t.Fatal(err)
		}
		cur.Store(tbl)
	}
	close(stop)
	wg.Wait()
}

func TestLookupBatchShortOutput(t *testing.T) {
	t.Parallel()
	tbl := mustBuild(t, map[netip.Prefix]int{pfx("192.0.2.0/24"): 1})
	defer func() {
		if recover() == nil {
			t.Errorf("LookupBatch with a short out slice did not panic")
		}
	}()
	tbl.LookupBatch([]netip.Addr{addr("192.0.2.1"), addr("192.0.2.2")}, make([]int, 1), nil)
}

// TestWords checks the direct read of netip.Addr's words against As16, and
// that the fast path is in use on this toolchain (if netip.Addr's layout
// changes, lookups stay correct but slow, and this test says so).
func TestWords(t *testing.T) {
	t.Parallel()
	if !fastWords {
		t.Errorf("netip.Addr layout check failed: lookups use the slow As16 path")
	}
	r := rand.New(rand.NewPCG(42, 42))
	addrs := append(randomBases(r, false, 500), randomBases(r, true, 500)...)
	addrs = append(addrs, netip.Addr{}, addr("::ffff:192.0.2.1"), addr("fe80::1%eth0"))
	for _, a := range addrs {
		hi, lo := words(a)
		whi, wlo := slowWords(a)
		if hi != whi || lo != wlo {
			t.Fatalf("words(%v) = %#x, %#x, want %#x, %#x", a, hi, lo, whi, wlo)
		}
	}
}
