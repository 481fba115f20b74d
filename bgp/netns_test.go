package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/internal/netnstest"
	"github.com/edgesim/edgesim/netlab"
)

var (
	demo4 = netip.MustParsePrefix("203.0.113.0/24")
	demo6 = netip.MustParsePrefix("2001:db8:100::/48")
)

type frrOpts struct {
	password string
	gr       bool
	extra    string // more "router bgp" lines
	v6       bool
	log      string
}

func frrConf(lk *netlab.Link, o frrOpts) string {
	var b strings.Builder
	lg := o.log
	if lg == "" {
		lg = "informational"
	}
	fmt.Fprintf(&b, "frr defaults traditional\nhostname peer\nlog stdout %s\n!\nrouter bgp 65001\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n", lg, lk.B4.Addr())
	if o.gr {
		b.WriteString(" bgp graceful-restart\n")
	}
	nbrs := []netip.Addr{lk.A4.Addr()}
	if o.v6 {
		nbrs = append(nbrs, lk.A6.Addr())
	}
	for _, n := range nbrs {
		fmt.Fprintf(&b, " neighbor %s remote-as 13335\n neighbor %s timers 3 9\n neighbor %s timers connect 1\n", n, n, n)
		if o.password != "" {
			fmt.Fprintf(&b, " neighbor %s password %s\n", n, o.password)
		}
	}
	b.WriteString(o.extra)
	fmt.Fprintf(&b, " address-family ipv4 unicast\n  neighbor %s activate\n exit-address-family\n", lk.A4.Addr())
	if o.v6 {
		fmt.Fprintf(&b, " address-family ipv6 unicast\n  neighbor %s activate\n exit-address-family\n", lk.A6.Addr())
	}
	return b.String()
}

func peerFor(lk *netlab.Link, v6 bool) PeerConfig {
	a := lk.B4.Addr()
	if v6 {
		a = lk.B6.Addr()
	}
	return PeerConfig{Address: a, PeerAS: 65001, HoldTime: 9 * time.Second, KeepaliveInterval: 3 * time.Second, ConnectRetry: time.Second}
}

func newNetnsSpeaker(t *testing.T) *Speaker {
	t.Helper()
	s, err := New(Options{RouterID: netip.MustParseAddr("192.0.2.1"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func requireFRR(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "vtysh")
	netnstest.RequireBinary(t, netlab.FRRBinDir+"/bgpd")
}

// frrLab starts one FRR peer on a host link.
func frrLab(t *testing.T, lab *netlab.Lab, name string, o frrOpts) (*netlab.Link, *netlab.FRR) {
	t.Helper()
	ns, err := lab.AddNetns(name)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lab.LinkHost(ns)
	if err != nil {
		t.Fatal(err)
	}
	frr, err := lab.StartFRR(t.Context(), ns, name, frrConf(lk, o), false)
	if err != nil {
		t.Fatal(err)
	}
	return lk, frr
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitRoute(t *testing.T, frr *netlab.FRR, p netip.Prefix, cond func([]netlab.FRRRoute) bool) []netlab.FRRRoute {
	t.Helper()
	var got []netlab.FRRRoute
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := frr.Route(t.Context(), p)
		if err == nil && cond(r) {
			return r
		}
		got = r
		if time.Now().After(deadline) {
			t.Fatalf("FRR %s: timed out, last %+v (err %v)", p, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasPath(aspath string) func([]netlab.FRRRoute) bool {
	return func(r []netlab.FRRRoute) bool { return len(r) == 1 && r[0].ASPath == aspath }
}

func absent(r []netlab.FRRRoute) bool { return len(r) == 0 }

func TestNetnsFRRAnnounceWithdrawPrepend(t *testing.T) {
	requireFRR(t)
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		lk, frr := frrLab(t, lab, "frr", frrOpts{v6: true})
		s := newNetnsSpeaker(t)
		if err := s.SetPeers(t.Context(), []PeerConfig{peerFor(lk, false), peerFor(lk, true)}); err != nil {
			t.Fatal(err)
		}
		ctx := ctxTimeout(t, 30*time.Second)
		for _, a := range []netip.Addr{lk.A4.Addr(), lk.A6.Addr()} {
			if err := frr.WaitEstablished(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		a := Attrs{ASPath: ASPath(64500, 0), Communities: []uint32{13335<<16 | 100}, LargeCommunities: [][3]uint32{{13335, 1, 2}}}
		if err := s.Sync(t.Context(), []Route{{demo4, a}, {demo6, a}}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []netip.Prefix{demo4, demo6} {
			r := waitRoute(t, frr, p, hasPath("13335 64500"))
			if r[0].Communities != "13335:100" || r[0].LargeCommunities != "13335:1:2" {
				t.Errorf("FRR %s: communities %q large %q, want 13335:100 and 13335:1:2", p, r[0].Communities, r[0].LargeCommunities)
			}
			want := lk.A4.Addr().String()
			if p.Addr().Is6() {
				want = lk.A6.Addr().String() // a real IPv6 next hop, not ::ffff:a.b.c.d
			}
			if len(r[0].NextHops) == 0 || r[0].NextHops[0] != want {
				t.Errorf("FRR %s: next hops %v, want %s first", p, r[0].NextHops, want)
			}
		}
		// prepend 2
		if err := s.Sync(t.Context(), []Route{{demo4, Attrs{ASPath: ASPath(64500, 2)}}, {demo6, a}}); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frr, demo4, hasPath("13335 13335 13335 64500"))
		// Sync without them removes them
		if err := s.Sync(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frr, demo4, absent)
		waitRoute(t, frr, demo6, absent)
		st := s.Status()
		if len(st) != 2 || st[0].State != StateEstablished || st[1].State != StateEstablished {
			t.Errorf("Status() = %+v, want 2 established peers", st)
		}
	})
}

func TestNetnsBIRDAnnounceWithdraw(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "bird")
	netnstest.RequireBinary(t, "birdc")
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		ns, err := lab.AddNetns("bird")
		if err != nil {
			t.Fatal(err)
		}
		lk, err := lab.LinkHost(ns)
		if err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf(`router id %s;
protocol device { }
protocol bgp edge4 {
  local %s as 65001; neighbor %s as 13335;
  hold time 9; keepalive time 3; connect retry time 1;
  ipv4 { import all; export none; };
}
protocol bgp edge6 {
  local %s as 65001; neighbor %s as 13335;
  hold time 9; keepalive time 3; connect retry time 1;
  ipv6 { import all; export none; };
}
`, lk.B4.Addr(), lk.B4.Addr(), lk.A4.Addr(), lk.B6.Addr(), lk.A6.Addr())
		bird, err := lab.StartBIRD(t.Context(), ns, "bird", conf)
		if err != nil {
			t.Fatal(err)
		}
		s := newNetnsSpeaker(t)
		if err := s.SetPeers(t.Context(), []PeerConfig{peerFor(lk, false), peerFor(lk, true)}); err != nil {
			t.Fatal(err)
		}
		ctx := ctxTimeout(t, 30*time.Second)
		for _, p := range []string{"edge4", "edge6"} {
			if err := bird.WaitEstablished(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		a := Attrs{ASPath: ASPath(64500, 2), Communities: []uint32{13335<<16 | 100}, LargeCommunities: [][3]uint32{{13335, 1, 2}}}
		if err := s.Sync(t.Context(), []Route{{demo4, a}, {demo6, a}}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []netip.Prefix{demo4, demo6} {
			var out string
			err := pollT(ctx, func() bool {
				out, _ = bird.Cmd(ctx, "show", "route", "for", p.String(), "all")
				return strings.Contains(out, "BGP.as_path: 13335 13335 13335 64500")
			})
			if err != nil {
				t.Fatalf("BIRD %s: %v\n%s", p, err, out)
			}
			for _, want := range []string{"BGP.community: (13335,100)", "BGP.large_community: (13335, 1, 2)"} {
				if !strings.Contains(out, want) {
					t.Errorf("BIRD %s: missing %q in\n%s", p, want, out)
				}
			}
			if p.Addr().Is6() && !strings.Contains(out, "BGP.next_hop: "+lk.A6.Addr().String()) {
				t.Errorf("BIRD %s: want next hop %s in\n%s", p, lk.A6.Addr(), out)
			}
		}
		if err := s.Sync(t.Context(), []Route{{demo6, a}}); err != nil {
			t.Fatal(err)
		}
		if err := pollT(ctx, func() bool { n, _ := bird.Imported(ctx, "edge4"); return n == 0 }); err != nil {
			t.Fatal("BIRD kept the withdrawn v4 route:", err)
		}
		if n, _ := bird.Imported(ctx, "edge6"); n != 1 {
			t.Errorf("BIRD edge6 imported %d, want 1", n)
		}
	})
}

func pollT(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func TestNetnsMD5(t *testing.T) {
	requireFRR(t)
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		good, frrGood := frrLab(t, lab, "good", frrOpts{password: "s3cret"})
		bad, frrBad := frrLab(t, lab, "bad", frrOpts{password: "s3cret"})
		s := newNetnsSpeaker(t)
		pg, pb := peerFor(good, false), peerFor(bad, false)
		pg.Password, pb.Password = "s3cret", "wrong"
		if err := s.SetPeers(t.Context(), []PeerConfig{pg, pb}); err != nil {
			t.Fatal(err)
		}
		if err := frrGood.WaitEstablished(ctxTimeout(t, 30*time.Second), good.A4.Addr()); err != nil {
			t.Fatal(err)
		}
		// The good session is up; give the bad one a few more retries.
		time.Sleep(5 * time.Second)
		if st, _ := frrBad.NeighborState(t.Context(), bad.A4.Addr()); st == "Established" {
			t.Fatal("session with a wrong MD5 password came up")
		}
		for _, p := range s.Status() {
			if p.Address == pb.Address && p.State == StateEstablished {
				t.Fatal("speaker reports the wrong-password session Established")
			}
		}
	})
}

func TestNetnsFRRRestartResends(t *testing.T) {
	requireFRR(t)
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		lk, frr := frrLab(t, lab, "frr", frrOpts{})
		s := newNetnsSpeaker(t)
		if err := s.SetPeers(t.Context(), []PeerConfig{peerFor(lk, false)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(t.Context(), []Route{{demo4, Attrs{ASPath: ASPath(64500, 0)}}}); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frr, demo4, hasPath("13335 64500"))
		frr.Kill()
		if err := frr.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := frr.WaitEstablished(ctxTimeout(t, 30*time.Second), lk.A4.Addr()); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frr, demo4, hasPath("13335 64500"))
		if st := s.Status(); st[0].LastError == "" {
			t.Errorf("Status() after a peer restart has no LastError: %+v", st)
		}
	})
}

func TestNetnsExportOnlySyncSet(t *testing.T) {
	requireFRR(t)
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		lkA, frrA := frrLab(t, lab, "a", frrOpts{})
		// B originates a route of its own towards the speaker.
		origin := netip.MustParsePrefix("192.0.2.128/25")
		lkB, frrB := frrLab(t, lab, "b", frrOpts{extra: " no bgp network import-check\n address-family ipv4 unicast\n  network " + origin.String() + "\n exit-address-family\n"})
		s := newNetnsSpeaker(t)
		if err := s.SetPeers(t.Context(), []PeerConfig{peerFor(lkA, false), peerFor(lkB, false)}); err != nil {
			t.Fatal(err)
		}
		ctx := ctxTimeout(t, 30*time.Second)
		if err := frrA.WaitEstablished(ctx, lkA.A4.Addr()); err != nil {
			t.Fatal(err)
		}
		if err := frrB.WaitEstablished(ctx, lkB.A4.Addr()); err != nil {
			t.Fatal(err)
		}
		// Injected straight into GoBGP, past Sync.
		leak := netip.MustParsePrefix("198.51.100.128/25")
		path, err := s.enc.path(leak, Attrs{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.srv.AddPath(t.Context(), &apiAddPathRequest{TableType: apiGlobal, Path: path}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(t.Context(), []Route{{demo4, Attrs{}}}); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frrA, demo4, hasPath("13335"))
		if err := pollT(ctx, func() bool {
			for _, p := range s.Status() {
				if p.Address == lkB.B4.Addr() && p.PrefixesReceived >= 2 { // its own + the echo of ours
					return true
				}
			}
			return false
		}); err != nil {
			out, _ := frrB.Vtysh(t.Context(), "show bgp ipv4 unicast", "show bgp neighbors "+lkB.A4.Addr().String()+" advertised-routes")
			t.Fatalf("speaker never received B's route: %v: %+v\n%s", err, s.Status(), out)
		}
		time.Sleep(time.Second)
		for _, p := range []netip.Prefix{leak, origin} {
			if r, err := frrA.Route(t.Context(), p); err != nil || len(r) != 0 {
				t.Errorf("FRR A has %s: %+v (err %v); only the Sync set may be announced", p, r, err)
			}
		}
		if n, _ := frrA.PfxRcd(t.Context(), "ipv4"); n != 1 {
			t.Errorf("FRR A pfxRcd = %d, want 1", n)
		}
	})
}

func TestNetnsPeersChangeAtRuntime(t *testing.T) {
	requireFRR(t)
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		lkA, frrA := frrLab(t, lab, "a", frrOpts{})
		lkB, frrB := frrLab(t, lab, "b", frrOpts{})
		s := newNetnsSpeaker(t)
		pa, pb := peerFor(lkA, false), peerFor(lkB, false)
		if err := s.SetPeers(t.Context(), []PeerConfig{pa}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(t.Context(), []Route{{demo4, Attrs{}}}); err != nil {
			t.Fatal(err)
		}
		ctx := ctxTimeout(t, 60*time.Second)
		if err := frrA.WaitEstablished(ctx, lkA.A4.Addr()); err != nil {
			t.Fatal(err)
		}
		upsA := func() int {
			var m map[string]struct {
				Est int `json:"connectionsEstablished"`
			}
			if err := frrA.JSON(t.Context(), "show bgp neighbors "+lkA.A4.Addr().String()+" json", &m); err != nil {
				t.Fatal(err)
			}
			return m[lkA.A4.Addr().String()].Est
		}
		if n := upsA(); n != 1 {
			t.Fatalf("A established %d times, want 1", n)
		}
		// add B
		if err := s.SetPeers(t.Context(), []PeerConfig{pa, pb}); err != nil {
			t.Fatal(err)
		}
		if err := frrB.WaitEstablished(ctx, lkB.A4.Addr()); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frrB, demo4, hasPath("13335"))
		// change B (hold time): B's session resets, A's does not
		pb.HoldTime, pb.KeepaliveInterval = 6*time.Second, 2*time.Second
		if err := s.SetPeers(t.Context(), []PeerConfig{pa, pb}); err != nil {
			t.Fatal(err)
		}
		if err := pollT(ctx, func() bool {
			var m map[string]struct {
				Hold int `json:"bgpTimerHoldTimeMsecs"`
			}
			_ = frrB.JSON(ctx, "show bgp neighbors "+lkB.A4.Addr().String()+" json", &m)
			return m[lkB.A4.Addr().String()].Hold == 6000
		}); err != nil {
			t.Fatal("B never came back with hold time 6s:", err)
		}
		// remove B
		if err := s.SetPeers(t.Context(), []PeerConfig{pa}); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frrB, demo4, absent)
		if n := upsA(); n != 1 {
			t.Errorf("A established %d times, want 1: changing other peers disturbed it", n)
		}
		if st := s.Status(); len(st) != 1 || st[0].Address != pa.Address || st[0].State != StateEstablished {
			t.Errorf("Status() = %+v, want only A, established", st)
		}
	})
}

func TestNetnsGracefulRestartClose(t *testing.T) {
	requireFRR(t)
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		lk, frr := frrLab(t, lab, "frr", frrOpts{gr: true})
		p := peerFor(lk, false)
		p.GracefulRestart, p.RestartTime = true, 60*time.Second
		s := newNetnsSpeaker(t)
		if err := s.SetPeers(t.Context(), []PeerConfig{p}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(t.Context(), []Route{{demo4, Attrs{}}}); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frr, demo4, hasPath("13335"))
		if err := s.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx := ctxTimeout(t, 30*time.Second)
		if err := pollT(ctx, func() bool { st, _ := frr.NeighborState(ctx, lk.A4.Addr()); return st != "Established" }); err != nil {
			t.Fatal("session did not drop:", err)
		}
		time.Sleep(time.Second)
		if r, _ := frr.Route(t.Context(), demo4); len(r) != 1 {
			t.Fatalf("FRR dropped the route on a graceful close: %+v", r)
		}
		// A new speaker (the restarted edge) takes over the stale route.
		s2 := newNetnsSpeaker(t)
		if err := s2.Sync(t.Context(), []Route{{demo4, Attrs{Communities: []uint32{7}}}}); err != nil {
			t.Fatal(err)
		}
		if err := s2.SetPeers(t.Context(), []PeerConfig{p}); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, frr, demo4, func(r []netlab.FRRRoute) bool { return len(r) == 1 && r[0].Communities == "0:7" })
	})
}

// Staged routes are loaded into GoBGP but never exported: FRR and BIRD
// see only the announced set, after staging, after a bulk promote and
// demote (while the demoted paths wait for their purge), after the peer
// restarts, after a hard session reset, after a route refresh and after
// the purge.
func TestNetnsStagedNeverExported(t *testing.T) {
	requireFRR(t)
	netnstest.RequireBinary(t, "bird")
	netnstest.RequireBinary(t, "birdc")
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		lkF, frr := frrLab(t, lab, "frr", frrOpts{v6: true})
		ns, err := lab.AddNetns("bird")
		if err != nil {
			t.Fatal(err)
		}
		lkB, err := lab.LinkHost(ns)
		if err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf(`router id %s;
protocol device { }
protocol bgp edge4 {
  local %s as 65001; neighbor %s as 13335;
  hold time 9; keepalive time 3; connect retry time 1;
  ipv4 { import all; export none; };
}
protocol bgp edge6 {
  local %s as 65001; neighbor %s as 13335;
  hold time 9; keepalive time 3; connect retry time 1;
  ipv6 { import all; export none; };
}
`, lkB.B4.Addr(), lkB.B4.Addr(), lkB.A4.Addr(), lkB.B6.Addr(), lkB.A6.Addr())
		bird, err := lab.StartBIRD(t.Context(), ns, "bird", conf)
		if err != nil {
			t.Fatal(err)
		}
		s := newNetnsSpeaker(t)
		if err := s.SetPeers(t.Context(), []PeerConfig{peerFor(lkF, false), peerFor(lkF, true), peerFor(lkB, false), peerFor(lkB, true)}); err != nil {
			t.Fatal(err)
		}
		up := func() {
			t.Helper()
			ctx := ctxTimeout(t, 30*time.Second)
			for _, a := range []netip.Addr{lkF.A4.Addr(), lkF.A6.Addr()} {
				if err := frr.WaitEstablished(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range []string{"edge4", "edge6"} {
				if err := bird.WaitEstablished(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
		}
		up()
		a := Attrs{ASPath: ASPath(64500, 0)}
		const n = 1000
		synth := synthRoutes(n, a)
		stage := append(slices.Clone(synth), Route{Prefix: demo6, Attrs: a})
		announce := []Route{{Prefix: demo4, Attrs: a}}
		// only waits until the peers hold exactly want4 IPv4 and want6 IPv6
		// routes, then checks that they still do a second later and that
		// none of the staged prefixes is among them.
		only := func(what string, want4, want6 int, staged []Route) {
			t.Helper()
			ctx := ctxTimeout(t, 30*time.Second)
			counts := func() [4]int {
				var c [4]int
				c[0], _ = frr.PfxRcd(ctx, "ipv4")
				c[1], _ = frr.PfxRcd(ctx, "ipv6")
				c[2], _ = bird.Imported(ctx, "edge4")
				c[3], _ = bird.Imported(ctx, "edge6")
				return c
			}
			want := [4]int{want4, want6, want4, want6}
			var got [4]int
			if err := pollT(ctx, func() bool { got = counts(); return got == want }); err != nil {
				t.Fatalf("%s: FRR v4/v6, BIRD v4/v6 hold %v routes, want %v", what, got, want)
			}
			time.Sleep(time.Second)
			if got = counts(); got != want {
				t.Fatalf("%s: a second later FRR v4/v6, BIRD v4/v6 hold %v routes, want %v", what, got, want)
			}
			for _, r := range []Route{staged[0], staged[len(staged)/2], staged[len(staged)-1]} {
				if rr, err := frr.Route(ctx, r.Prefix); err != nil || len(rr) != 0 {
					t.Errorf("%s: FRR has staged %s: %+v (err %v)", what, r.Prefix, rr, err)
				}
				if out, _ := bird.Cmd(ctx, "show", "route", "for", r.Prefix.String()); strings.Contains(out, r.Prefix.String()) {
					t.Errorf("%s: BIRD has staged %s:\n%s", what, r.Prefix, out)
				}
			}
		}
		if err := s.SyncStaged(t.Context(), announce, stage); err != nil {
			t.Fatal(err)
		}
		only("staged", 1, 0, stage)
		// Bulk promote, then demote: the demoted paths sit in the withdraw
		// set until the purge.
		if err := s.SyncStaged(t.Context(), append(slices.Clone(announce), synth...), stage); err != nil {
			t.Fatal(err)
		}
		only("promoted", n+1, 0, stage[n:])
		if err := s.SyncStaged(t.Context(), announce, stage); err != nil {
			t.Fatal(err)
		}
		only("demoted", 1, 0, stage)
		frr.Kill()
		if err := frr.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		up()
		only("FRR restarted before the purge", 1, 0, stage)
		if _, err := frr.Vtysh(t.Context(), "clear bgp "+lkF.A4.Addr().String(), "clear bgp "+lkF.A6.Addr().String()); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"edge4", "edge6"} {
			if _, err := bird.Cmd(t.Context(), "restart", p); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		up()
		only("sessions reset", 1, 0, stage)
		// The next Sync purges; the staged paths stay loaded.
		if err := s.SyncStaged(t.Context(), announce, stage); err != nil {
			t.Fatal(err)
		}
		if got := len(s.Staged()); got != n+1 {
			t.Fatalf("Staged() has %d routes after the purge, want %d", got, n+1)
		}
		if _, err := frr.Vtysh(t.Context(), "clear bgp ipv4 unicast "+lkF.A4.Addr().String()+" soft in"); err != nil {
			t.Fatal(err)
		}
		only("route refresh after the purge", 1, 0, stage)
		frr.Kill()
		if err := frr.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		up()
		only("FRR restarted after the purge", 1, 0, stage)
		// Announcing a staged IPv6 prefix (small diff) reaches both.
		if err := s.SyncStaged(t.Context(), append(slices.Clone(announce), stage[n]), stage); err != nil {
			t.Fatal(err)
		}
		only("v6 promoted", 1, 1, stage[:n])
	})
}
