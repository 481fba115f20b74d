package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/internal/netnstest"
	"github.com/edgesim/edgesim/netlab"
)

// BenchmarkConvergence measures, per iteration, the time from Sync (or, on
// the FRR side, from the equivalent live change on an FRR originator) until
// an FRR receiver holds all N prefixes ("announce_s"), and from the empty
// Sync until it holds none ("withdraw_s"). The FRR side is FRR bgpd -> FRR
// bgpd with the N prefixes configured as networks behind a deny-all
// outbound route-map, flipped to permit-all (and back) plus a soft clear:
// FRR's own re-announcement on a live session. Both receivers run bgpd
// alone (-Z -n) with "solo" towards the sender, logging only errors.
// Prefixes are /27s from 100.64.0.0/10, inside the lab's namespaces only.
// The edgesim-staged variant is the like-for-like one: the N routes are
// staged first (untimed, SyncStaged(nil, routes)), as FRR's networks are
// loaded behind its deny-all route-map; announce is SyncStaged(routes,
// routes) and withdraw SyncStaged(nil, routes), back to staged.
// heap_B/staged_prefix is the heap the staged routes take.
//
//	sudo go test ./bgp/ -run '^$' -bench Convergence -benchtime 1x -timeout 20m
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		name := fmt.Sprintf("%dk", n/1000)
		b.Run(name+"/edgesim", func(b *testing.B) { benchEdgesim(b, n, false) })
		b.Run(name+"/edgesim-staged", func(b *testing.B) { benchEdgesim(b, n, true) })
		b.Run(name+"/frr", func(b *testing.B) { benchFRR(b, n) })
	}
}

func benchLab(b *testing.B) *netlab.Lab {
	netnstest.RequireRoot(b)
	netnstest.RequireBinary(b, "vtysh")
	lab, err := netlab.New("")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lab.Close(b.Failed()) })
	return lab
}

func waitPfx(b *testing.B, frr *netlab.FRR, want int) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for {
		n, err := frr.PfxRcd(ctx, "ipv4")
		if err == nil && n == want {
			return
		}
		if ctx.Err() != nil {
			b.Fatalf("receiver has %d prefixes, want %d (err %v)", n, want, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func benchEdgesim(b *testing.B, n int, staged bool) {
	lab := benchLab(b)
	ns, err := lab.AddNetns("rcv")
	if err != nil {
		b.Fatal(err)
	}
	lk, err := lab.LinkHost(ns)
	if err != nil {
		b.Fatal(err)
	}
	conf := frrConf(lk, frrOpts{log: "errors", extra: " neighbor " + lk.A4.Addr().String() + " solo\n"})
	frr, err := lab.StartFRR(b.Context(), ns, "rcv", conf, false)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{RouterID: netip.MustParseAddr("192.0.2.1"), Logger: benchLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.SetPeers(b.Context(), []PeerConfig{peerFor(lk, false)}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
	defer cancel()
	if err := frr.WaitEstablished(ctx, lk.A4.Addr()); err != nil {
		b.Fatal(err)
	}
	routes := synthRoutes(n, Attrs{ASPath: ASPath(64500, 0), Communities: []uint32{13335<<16 | 100}})
	var stage []Route
	var perStaged float64
	if staged {
		stage = routes
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		if err := s.SyncStaged(b.Context(), nil, stage); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perStaged = float64(int64(m1.HeapInuse)-int64(m0.HeapInuse)) / float64(n)
		time.Sleep(time.Second) // let GoBGP settle; FRR must hold nothing
		waitPfx(b, frr, 0)
	}
	var ann, wd, ret time.Duration
	var perPrefix float64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		t0 := time.Now()
		if err := s.SyncStaged(b.Context(), routes, stage); err != nil {
			b.Fatal(err)
		}
		waitPfx(b, frr, n)
		ann += time.Since(t0)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perPrefix = float64(int64(m1.HeapInuse)-int64(m0.HeapInuse)) / float64(n)
		t1 := time.Now()
		if err := s.SyncStaged(b.Context(), nil, stage); err != nil {
			b.Fatal(err)
		}
		ret += time.Since(t1)
		waitPfx(b, frr, 0)
		wd += time.Since(t1)
	}
	b.ReportMetric(ann.Seconds()/float64(b.N), "announce_s")
	b.ReportMetric(wd.Seconds()/float64(b.N), "withdraw_s")
	b.ReportMetric(ret.Seconds()/float64(b.N), "withdraw_sync_return_s")
	b.ReportMetric(perPrefix, "heap_B/prefix")
	if staged {
		b.ReportMetric(perStaged, "heap_B/staged_prefix")
	}
	b.ReportMetric(0, "ns/op")
}

func benchFRR(b *testing.B, n int) {
	lab := benchLab(b)
	nsA, err := lab.AddNetns("snd")
	if err != nil {
		b.Fatal(err)
	}
	nsB, err := lab.AddNetns("rcv")
	if err != nil {
		b.Fatal(err)
	}
	lk, err := lab.LinkNetns(nsA, nsB)
	if err != nil {
		b.Fatal(err)
	}
	a, bb := lk.A4.Addr(), lk.B4.Addr()
	var sc strings.Builder
	fmt.Fprintf(&sc, "frr defaults traditional\nhostname snd\nlog stdout errors\n!\nroute-map DENYALL deny 10\nroute-map PERMITALL permit 10\n!\nrouter bgp 65002\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n neighbor %s remote-as 65001\n neighbor %s timers 3 9\n neighbor %s timers connect 1\n address-family ipv4 unicast\n  neighbor %s activate\n  neighbor %s route-map DENYALL out\n", a, bb, bb, bb, bb, bb)
	for _, r := range synthRoutes(n, Attrs{}) {
		fmt.Fprintf(&sc, "  network %s\n", r.Prefix)
	}
	sc.WriteString(" exit-address-family\n")
	rconf := fmt.Sprintf("frr defaults traditional\nhostname rcv\nlog stdout errors\n!\nrouter bgp 65001\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n neighbor %s remote-as 65002\n neighbor %s timers 3 9\n neighbor %s timers connect 1\n neighbor %s solo\n address-family ipv4 unicast\n  neighbor %s activate\n exit-address-family\n", bb, a, a, a, a, a)
	snd, err := lab.StartFRR(b.Context(), nsA, "snd", sc.String(), false)
	if err != nil {
		b.Fatal(err)
	}
	rcv, err := lab.StartFRR(b.Context(), nsB, "rcv", rconf, false)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.Context(), 120*time.Second)
	defer cancel()
	if err := rcv.WaitEstablished(ctx, a); err != nil {
		b.Fatal(err)
	}
	flip := func(rm string) {
		if _, err := snd.Vtysh(b.Context(), "conf t", "router bgp 65002", "address-family ipv4 unicast",
			"neighbor "+bb.String()+" route-map "+rm+" out", "end", "clear bgp ipv4 unicast "+bb.String()+" soft out"); err != nil {
			b.Fatal(err)
		}
	}
	// Warm-up: wait until the sender has loaded all its networks.
	flip("PERMITALL")
	waitPfx(b, rcv, n)
	flip("DENYALL")
	waitPfx(b, rcv, 0)
	var ann, wd time.Duration
	for b.Loop() {
		t0 := time.Now()
		flip("PERMITALL")
		waitPfx(b, rcv, n)
		ann += time.Since(t0)
		t1 := time.Now()
		flip("DENYALL")
		waitPfx(b, rcv, 0)
		wd += time.Since(t1)
	}
	b.ReportMetric(ann.Seconds()/float64(b.N), "announce_s")
	b.ReportMetric(wd.Seconds()/float64(b.N), "withdraw_s")
	b.ReportMetric(0, "ns/op")
}

func benchLogger(b *testing.B) *slog.Logger {
	if os.Getenv("EDGESIM_BENCH_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
