package bgp

import (
	"context"
	"errors"
	"fmt"
	"github.com/edgesim/edgesim/internal/freeport"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// collector is a plain GoBGP server acting as the speaker's eBGP peer over
// loopback (no root needed): it listens on a free port and accepts the
// session from 127.0.0.1.
type collector struct {
	srv  *server.BgpServer
	port uint16
}

func newCollector(t testing.TB, as uint32, password string) *collector {
	t.Helper()
	c := &collector{srv: server.NewBgpServer(server.LoggerOption(&slogAdapter{l: discardLogger()})), port: freeport.TCP(t)}
	go c.srv.Serve()
	ctx := context.Background()
	if err := c.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: as, RouterId: "192.0.2.200", ListenPort: int32(c.port), ListenAddresses: []string{"127.0.0.1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: DefaultLocalAS, AuthPassword: password},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3, ConnectRetry: 1}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: familyV4, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: familyV6, Enabled: true}},
		},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopServer(c.srv, []netip.Addr{netip.MustParseAddr("127.0.0.1")}) })
	return c
}

// routes returns what the collector holds from the speaker, by prefix.
func (c *collector) routes(t testing.TB) map[netip.Prefix]Attrs {
	t.Helper()
	out := map[netip.Prefix]Attrs{}
	for _, f := range []*api.Family{familyV4, familyV6} {
		err := c.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f}, func(d *api.Destination) {
			p := netip.MustParsePrefix(d.Prefix)
			for _, path := range d.Paths {
				attrs, err := apiutil.GetNativePathAttributes(path)
				if err != nil {
					t.Error(err)
					return
				}
				var a Attrs
				for _, x := range attrs {
					switch v := x.(type) {
					case *bgp.PathAttributeAsPath:
						for _, seg := range v.Value {
							a.ASPath = append(a.ASPath, seg.GetAS()...)
						}
					case *bgp.PathAttributeCommunities:
						a.Communities = v.Value
					case *bgp.PathAttributeLargeCommunities:
						for _, lc := range v.Values {
							a.LargeCommunities = append(a.LargeCommunities, [3]uint32{lc.ASN, lc.LocalData1, lc.LocalData2})
						}
					}
				}
				out[p] = a
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func (c *collector) count(t testing.TB) int {
	t.Helper()
	n := 0
	for _, f := range []*api.Family{familyV4, familyV6} {
		r, err := c.srv.GetTable(context.Background(), &api.GetTableRequest{TableType: api.TableType_GLOBAL, Family: f})
		if err != nil {
			t.Fatal(err)
		}
		n += int(r.NumDestination)
	}
	return n
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newLoopbackSpeaker(t testing.TB, c *collector, password string) *Speaker {
	t.Helper()
	s, err := New(Options{RouterID: netip.MustParseAddr("192.0.2.1"), NextHop6: netip.MustParseAddr("2001:db8::1"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	err = s.SetPeers(t.Context(), []PeerConfig{{
		Address: netip.MustParseAddr("127.0.0.1"), PeerAS: 65001, Port: c.port, Password: password,
		HoldTime: 9 * time.Second, ConnectRetry: time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func established(s *Speaker) bool {
	st := s.Status()
	return len(st) > 0 && !slices.ContainsFunc(st, func(p PeerStatus) bool { return p.State != StateEstablished })
}

func TestLoopbackSyncAnnouncesExactlyTheSet(t *testing.T) {
	c := newCollector(t, 65001, "")
	s := newLoopbackSpeaker(t, c, "")
	waitFor(t, "session", 15*time.Second, func() bool { return established(s) })

	v4 := netip.MustParsePrefix("203.0.113.0/24")
	v6 := netip.MustParsePrefix("2001:db8:100::/48")
	a := Attrs{ASPath: ASPath(64500, 0), Communities: []uint32{13335<<16 | 100}, LargeCommunities: [][3]uint32{{13335, 1, 2}}}
	if err := s.Sync(t.Context(), []Route{{v4, a}, {v6, a}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 routes", 5*time.Second, func() bool { return c.count(t) == 2 })
	got := c.routes(t)
	for _, p := range []netip.Prefix{v4, v6} {
		if !got[p].Equal(a) {
			t.Errorf("collector has %s with %+v, want %+v", p, got[p], a)
		}
	}

	// Something put into GoBGP behind Sync's back never leaves.
	leak := netip.MustParsePrefix("198.51.100.0/24")
	path, err := s.enc.path(leak, Attrs{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.srv.AddPath(t.Context(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err != nil {
		t.Fatal(err)
	}

	// prepend 2, then drop the v6 route
	b := Attrs{ASPath: ASPath(64500, 2)}
	if err := s.Sync(t.Context(), []Route{{v4, b}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 route with prepend", 5*time.Second, func() bool {
		r := c.routes(t)
		return len(r) == 1 && r[v4].Equal(b)
	})
	if _, ok := c.routes(t)[leak]; ok {
		t.Fatalf("injected %s reached the peer", leak)
	}
	if err := s.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no routes", 5*time.Second, func() bool { return c.count(t) == 0 })
}

func TestLoopbackBulkSync(t *testing.T) {
	c := newCollector(t, 65001, "")
	s := newLoopbackSpeaker(t, c, "")
	waitFor(t, "session", 15*time.Second, func() bool { return established(s) })
	const n = 2000
	routes := synthRoutes(n, Attrs{ASPath: ASPath(64500, 1)})
	t0 := time.Now()
	if err := s.Sync(t.Context(), routes); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprint(n, " routes"), 20*time.Second, func() bool { return c.count(t) == n })
	t.Logf("bulk announce %d: %v", n, time.Since(t0))
	// change half the attributes, drop a quarter
	for i := range routes[:n/2] {
		routes[i].Attrs = Attrs{ASPath: ASPath(64500, 0), Communities: []uint32{1}}
	}
	routes = routes[:n*3/4]
	if err := s.Sync(t.Context(), routes); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "changed set", 20*time.Second, func() bool {
		got := c.routes(t)
		if len(got) != len(routes) {
			return false
		}
		for _, r := range routes {
			if !got[r.Prefix].Equal(r.Attrs) {
				return false
			}
		}
		return true
	})
	t0 = time.Now()
	if err := s.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "empty", 20*time.Second, func() bool { return c.count(t) == 0 })
	t.Logf("bulk withdraw %d: %v", len(routes), time.Since(t0))
}

// A bulk withdrawal leaves the withdrawn paths in GoBGP's RIB for a while
// (already withdrawn from the peers); the next Sync drops them first.
func TestLoopbackBulkWithdrawThenSync(t *testing.T) {
	c := newCollector(t, 65001, "")
	s := newLoopbackSpeaker(t, c, "")
	waitFor(t, "session", 15*time.Second, func() bool { return established(s) })
	const n = 1000
	routes := synthRoutes(n, Attrs{ASPath: ASPath(64500, 0)})
	routes = append(routes, Route{Prefix: netip.MustParsePrefix("2001:db8:100::/48")})
	if err := s.Sync(t.Context(), routes); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprint(n+1, " routes"), 20*time.Second, func() bool { return c.count(t) == n+1 })
	// Drop every IPv4 route (one withdraw-set entry for the family), keep v6.
	if err := s.Sync(t.Context(), routes[n:]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "only the v6 route", 20*time.Second, func() bool { return c.count(t) == 1 })
	ribPaths := func() int {
		r, err := s.srv.GetTable(t.Context(), &api.GetTableRequest{TableType: api.TableType_GLOBAL, Family: familyV4})
		if err != nil {
			t.Fatal(err)
		}
		return int(r.NumPath)
	}
	if got := ribPaths(); got != n {
		t.Logf("GoBGP holds %d IPv4 paths right after the bulk withdrawal (purge already ran?)", got)
	}
	if err := s.Sync(t.Context(), routes[:n/2]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first half", 20*time.Second, func() bool {
		got := c.routes(t)
		return len(got) == n/2 && got[routes[0].Prefix].Equal(routes[0].Attrs)
	})
	if got := ribPaths(); got != n/2 {
		t.Errorf("GoBGP holds %d IPv4 paths, want %d: the withdrawn ones were not dropped", got, n/2)
	}
	time.Sleep(time.Second)
	if got := c.count(t); got != n/2 {
		t.Errorf("collector holds %d routes a second later, want %d", got, n/2)
	}
}

func TestWholeFamilies(t *testing.T) {
	v4, v6 := pfx("192.0.2.0/24"), pfx("2001:db8::/32")
	other := pfx("198.51.100.0/24")
	for _, tt := range []struct {
		gone                 []netip.Prefix
		desired, stage, annd map[netip.Prefix]Attrs
		want                 [2]bool
	}{
		{nil, nil, nil, nil, [2]bool{}},
		{[]netip.Prefix{v4, v6}, nil, nil, nil, [2]bool{true, true}},
		{[]netip.Prefix{v4}, map[netip.Prefix]Attrs{v6: {}}, nil, nil, [2]bool{true, false}},
		{[]netip.Prefix{v4}, map[netip.Prefix]Attrs{other: {}}, nil, nil, [2]bool{}},
		// demoted: v4 announced before, staged now
		{[]netip.Prefix{v4}, nil, map[netip.Prefix]Attrs{v4: {}}, map[netip.Prefix]Attrs{v4: {}}, [2]bool{true, false}},
		// another v4 prefix is staged and was never announced
		{[]netip.Prefix{v4}, nil, map[netip.Prefix]Attrs{other: {}}, map[netip.Prefix]Attrs{v4: {}}, [2]bool{}},
	} {
		if got := wholeFamilies(tt.gone, tt.desired, tt.stage, tt.annd); got != tt.want {
			t.Errorf("wholeFamilies(%v, %v, %v) = %v, want %v", tt.gone, tt.desired, tt.stage, got, tt.want)
		}
	}
}

// Staged paths are loaded into GoBGP and never reach the peer; announcing
// them keeps the loaded paths; withdrawing them back to staged keeps
// them too. Both the per-prefix and the bulk path.
func TestLoopbackStaged(t *testing.T) {
	c := newCollector(t, 65001, "")
	s := newLoopbackSpeaker(t, c, "")
	waitFor(t, "session", 15*time.Second, func() bool { return established(s) })
	ribPaths := func() int {
		n := 0
		for _, f := range []*api.Family{familyV4, familyV6} {
			r, err := s.srv.GetTable(t.Context(), &api.GetTableRequest{TableType: api.TableType_GLOBAL, Family: f})
			if err != nil {
				t.Fatal(err)
			}
			n += int(r.NumPath)
		}
		return n
	}
	never := func(what string) {
		t.Helper()
		time.Sleep(500 * time.Millisecond)
		if n := c.count(t); n != 0 {
			t.Fatalf("%s: the collector holds %d routes, want none", what, n)
		}
	}
	a := Attrs{ASPath: ASPath(64500, 0)}
	const n = 1000
	staged := synthRoutes(n, a)
	staged = append(staged, Route{Prefix: pfx("2001:db8:100::/48"), Attrs: a})
	if err := s.SyncStaged(t.Context(), nil, staged); err != nil {
		t.Fatal(err)
	}
	never("staged")
	if got := ribPaths(); got != n+1 {
		t.Fatalf("GoBGP holds %d paths, want the %d staged", got, n+1)
	}
	// A soft reset (as any bulk Sync sends) re-exports the table: still nothing.
	if err := s.srv.ResetPeer(t.Context(), &api.ResetPeerRequest{Address: "all", Soft: true, Direction: api.ResetPeerRequest_OUT}); err != nil {
		t.Fatal(err)
	}
	never("soft reset")

	// Small diff: promote 3 (one with other attributes), the rest stays staged.
	b := Attrs{ASPath: ASPath(64500, 1)}
	ann := []Route{staged[0], staged[1], {Prefix: staged[2].Prefix, Attrs: b}}
	if err := s.SyncStaged(t.Context(), ann, staged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 routes", 5*time.Second, func() bool {
		got := c.routes(t)
		return len(got) == 3 && got[staged[0].Prefix].Equal(a) && got[staged[2].Prefix].Equal(b)
	})
	if got, want := len(s.Staged()), n+1-3; got != want {
		t.Errorf("Staged() has %d routes, want %d", got, want)
	}
	// Small diff: demote them again.
	if err := s.SyncStaged(t.Context(), nil, staged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "none", 5*time.Second, func() bool { return c.count(t) == 0 })
	if got := ribPaths(); got != n+1 {
		t.Fatalf("GoBGP holds %d paths after demoting, want %d", got, n+1)
	}

	// Bulk: promote all, then demote all (the purge keeps the paths).
	if err := s.SyncStaged(t.Context(), staged, staged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all routes", 10*time.Second, func() bool { return c.count(t) == n+1 })
	if got := ribPaths(); got != n+1 {
		t.Fatalf("GoBGP holds %d paths after promoting, want %d (no reload)", got, n+1)
	}
	if err := s.SyncStaged(t.Context(), nil, staged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "none", 10*time.Second, func() bool { return c.count(t) == 0 })
	// The next Sync purges first; the staged paths must survive it and stay unexported.
	if err := s.SyncStaged(t.Context(), nil, staged[:n/2]); err != nil {
		t.Fatal(err)
	}
	if got := ribPaths(); got != n/2 {
		t.Fatalf("GoBGP holds %d paths, want the %d still staged", got, n/2)
	}
	never("after the purge")
	if err := s.SyncStaged(t.Context(), staged[:n/2], nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "half", 10*time.Second, func() bool { return c.count(t) == n/2 })
	if err := s.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "none", 10*time.Second, func() bool { return c.count(t) == 0 })
	if err := s.Sync(t.Context(), nil); err != nil { // purges
		t.Fatal(err)
	}
	if got := ribPaths(); got != 0 || len(s.Staged()) != 0 {
		t.Fatalf("GoBGP holds %d paths, %d staged, want none", got, len(s.Staged()))
	}
}

// The loader's socket serves AddPathStream only and goes away with Close.
func TestLoaderOnlyAddPathStream(t *testing.T) {
	s, err := New(Options{RouterID: netip.MustParseAddr("192.0.2.1"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ld.cli.GetBgp(t.Context(), &api.GetBgpRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetBgp over the loader socket: %v, want PermissionDenied", err)
	}
	lp, err := s.ld.cli.ListPeer(t.Context(), &api.ListPeerRequest{})
	if err == nil {
		_, err = lp.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("ListPeer over the loader socket: %v, want PermissionDenied", err)
	}
	if fi, err := os.Stat(s.ld.dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("loader directory %s: %v %v, want mode 0700", s.ld.dir, fi.Mode(), err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.ld.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("loader directory %s after Close: %v, want it gone", s.ld.dir, err)
	}
}
