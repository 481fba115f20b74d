package lpm

// Benchmarks against github.com/gaissmai/bart v0.30.0 (bart.Fast and
// bart.Table) in the same process, on the Tier-1 table and 10k-prefix
// subsets of it. Every lookup benchmark reports:
//
//	lookups/s       lookups per wall-clock second (the headline metric)
//	ns/lookup       wall-clock ns per lookup (ns/op is per batch for lpmBatch)
//	cpu-ns/lookup   thread CPU ns per lookup (excludes time descheduled)
//
// Probe sets: warm = 1,024 addresses cycled (bart's README method, the
// structure's hot path stays cached); cold = 2^20 distinct addresses, half
// hits (a random address inside a random prefix) and half misses.
//
//	go test -run='^$' -bench=. -count=10 ./lpm/

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/gaissmai/bart"
)

const (
	nCold     = 1 << 20
	nWarm     = 1 << 10
	batchSize = 64 // addresses per LookupBatch call in lpmBatch
)

type benchSet struct {
	name  string
	v6    bool
	lpm   *Table[uint32]
	fast  *bart.Fast[uint32]
	table *bart.Table[uint32]
	cold  []netip.Addr
}

var (
	benchOnce sync.Once
	benchSets []*benchSet
	sink      uint32
)

func benchSetup(b *testing.B) []*benchSet {
	b.Helper()
	v4, v6 := tier1(b)
	benchOnce.Do(func() {
		r := rand.New(rand.NewPCG(42, 4242))
		small := func(rs []refRoute) []refRoute {
			s := slices.Clone(rs)
			r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
			return s[:10_000]
		}
		// One table of both families, as edgesim uses it.
		all := append(slices.Clone(v4), v6...)
		full := newBenchTables(b, all)
		s4 := newBenchTables(b, small(v4))
		s6 := newBenchTables(b, small(v6))
		benchSets = []*benchSet{
			{name: "v4", v6: false},
			{name: "v6", v6: true},
			{name: "v4_10k", v6: false},
			{name: "v6_10k", v6: true},
		}
		for i, tb := range []*benchSet{full, full, s4, s6} {
			s := benchSets[i]
			s.lpm, s.fast, s.table = tb.lpm, tb.fast, tb.table
			var rs []refRoute
			switch s.name {
			case "v4":
				rs = v4
			case "v6":
				rs = v6
			case "v4_10k", "v6_10k":
				for p := range s.lpm.All() {
					rs = append(rs, refRoute{p: p})
				}
			}
			s.cold = coldProbes(rand.New(rand.NewPCG(uint64(i), 99)), rs, s.v6, s.table)
		}
		runtime.GC()
	})
	return benchSets
}

func newBenchTables(b *testing.B, rs []refRoute) *benchSet {
	s := &benchSet{fast: new(bart.Fast[uint32]), table: new(bart.Table[uint32])}
	var err error
	if s.lpm, err = Build(benchSeq(rs)); err != nil {
		b.Fatal(err)
	}
	for i, e := range rs {
		s.fast.Insert(e.p, uint32(i))
		s.table.Insert(e.p, uint32(i))
	}
	return s
}

func benchSeq(rs []refRoute) func(func(netip.Prefix, uint32) bool) {
	return func(yield func(netip.Prefix, uint32) bool) {
		for i, e := range rs {
			if !yield(e.p, uint32(i)) {
				return
			}
		}
	}
}

// coldProbes returns nCold addresses, alternately inside a random route and
// outside every route (checked with bart.Table), shuffled. Random IPv4
// addresses come from 1.0.0.0-223.255.255.255, IPv6 from 2000::/3.
func coldProbes(r *rand.Rand, rs []refRoute, v6 bool, miss *bart.Table[uint32]) []netip.Addr {
	out := make([]netip.Addr, 0, nCold)
	for len(out) < nCold {
		if len(out)%2 == 0 {
			out = append(out, randomIn(r, rs[r.IntN(len(rs))].p))
			continue
		}
		for {
			var a netip.Addr
			if v6 {
				a = netip.AddrFrom16([16]byte{0x20 | byte(r.IntN(32)), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()),
					byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), 1, 2, 3, 4, 5, 6, 7})
			} else {
				x := 1<<24 + r.Uint32N(223<<24)
				a = netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
			}
			if _, ok := miss.Lookup(a); !ok {
				out = append(out, a)
				break
			}
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// BenchmarkLookup is BenchmarkLookup/{v4,v6,v4_10k,v6_10k}/{warm,cold}/{lpm,lpmBatch,bartFast,bartTable}.
func BenchmarkLookup(b *testing.B) {
	for _, s := range benchSetup(b) {
		b.Run(s.name, func(b *testing.B) {
			for _, probe := range []string{"warm", "cold"} {
				ps := s.cold
				if probe == "warm" {
					ps = ps[:nWarm]
				}
				b.Run(probe, func(b *testing.B) {
					for _, lib := range []string{"lpm", "lpmBatch", "bartFast", "bartTable"} {
						b.Run(lib, func(b *testing.B) { benchLookup(b, s, lib, ps) })
					}
				})
			}
		})
	}
}

func benchLookup(b *testing.B, s *benchSet, lib string, ps []netip.Addr) {
	mask := len(ps) - 1
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var acc uint32
	n := 0
	c0 := threadCPU()
	switch lib {
	case "lpm":
		t := s.lpm
		for b.Loop() {
			v, _ := t.Lookup(ps[n&mask])
			acc += v
			n++
		}
	case "lpmBatch":
		t := s.lpm
		out := make([]uint32, batchSize)
		for b.Loop() {
			j := n & mask
			t.LookupBatch(ps[j:j+batchSize], out, nil)
			acc += out[n&(batchSize-1)]
			n += batchSize
		}
	case "bartFast":
		t := s.fast
		for b.Loop() {
			v, _ := t.Lookup(ps[n&mask])
			acc += v
			n++
		}
	case "bartTable":
		t := s.table
		for b.Loop() {
			v, _ := t.Lookup(ps[n&mask])
			acc += v
			n++
		}
	default:
		b.Fatalf("no benchmark loop for %s", lib)
	}
	c1 := threadCPU()
	sink += acc
	reportLookups(b, n, c1-c0)
}

func reportLookups(b *testing.B, n int, cpu int64) {
	if n == 0 {
		return
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lookups/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/lookup")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/lookup")
	}
}

// BenchmarkFloor measures the memory floor of this machine in the same run:
// random reads from a 64 MiB array (far beyond the caches), per read.
// indep: independent reads, which the CPU overlaps (the throughput floor a
// batched lookup is measured against); dep: each index depends on the
// previous read (pure latency, the floor of one unbatched lookup level);
// dep8: 8 interleaved dependent chains (the shape of an 8-lane batch).
func BenchmarkFloor(b *testing.B) {
	const size = 1 << 24 // uint32s: 64 MiB
	arr := make([]uint32, size)
	for i := range arr {
		arr[i] = uint32(i) * 2654435761 >> 28 // small values, every page written
	}
	r := rand.New(rand.NewPCG(5, 5))
	idx := make([]uint32, nCold)
	for i := range idx {
		idx[i] = r.Uint32N(size)
	}
	const m = nCold - 1
	for _, mode := range []string{"indep", "dep", "dep8"} {
		b.Run("64MiB/"+mode, func(b *testing.B) {
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var acc uint32
			n := 0
			c0 := threadCPU()
			switch mode {
			case "indep":
				for b.Loop() {
					acc += arr[idx[n&m]&(size-1)]
					n++
				}
			case "dep":
				var x uint32
				for b.Loop() {
					x = arr[(idx[n&m]+x)&(size-1)]
					n++
				}
				acc = x
			case "dep8":
				var xs [8]uint32
				for b.Loop() {
					c := n & 7
					xs[c] = arr[(idx[n&m]+xs[c])&(size-1)]
					n++
				}
				acc = xs[0]
			}
			c1 := threadCPU()
			sink += acc
			if n > 0 {
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "reads/s")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/read")
				b.ReportMetric(float64(c1-c0)/float64(n), "cpu-ns/read")
			}
		})
	}
}

// BenchmarkBuild builds the full Tier-1 table (both families) and a 10k
// IPv4 subset, and reports the lookup structures' bytes per prefix.
func BenchmarkBuild(b *testing.B) {
	v4, v6 := tier1(b)
	all := append(slices.Clone(v4), v6...)
	r := rand.New(rand.NewPCG(42, 4242))
	sub := slices.Clone(v4)
	r.Shuffle(len(sub), func(i, j int) { sub[i], sub[j] = sub[j], sub[i] })
	for _, c := range []struct {
		name string
		rs   []refRoute
	}{{"tier1", all}, {"v4_10k", sub[:10_000]}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var t *Table[uint32]
			for b.Loop() {
				var err error
				if t, err = Build(benchSeq(c.rs)); err != nil {
					b.Fatal(err)
				}
			}
			if n4 := len(t.val4) - 1; n4 > 0 {
				b.ReportMetric(float64(t.v4.bytes())/float64(n4), "B/prefix-v4")
			}
			if n6 := len(t.val6) - 1; n6 > 0 {
				b.ReportMetric(float64(t.v6.bytes())/float64(n6), "B/prefix-v6")
			}
			b.ReportMetric(float64(t.MemoryBytes())/float64(t.Len()), "B/prefix-total")
		})
	}
}
