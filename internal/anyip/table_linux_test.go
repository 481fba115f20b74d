package anyip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgesim/edgesim/internal/netnstest"
	"github.com/edgesim/edgesim/netlab"
)

var mp = netip.MustParsePrefix

// newNetns returns a fresh network namespace with lo up, deleted when t
// ends.
func newNetns(t *testing.T) string {
	t.Helper()
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "ip")
	lab, err := netlab.New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(false); err != nil {
			t.Errorf("closing lab: %v", err)
		}
	})
	ns, err := lab.AddNetns("anyip")
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// openIn opens a Table in ns; it is closed when t ends.
func openIn(t *testing.T, ns string) *Table {
	t.Helper()
	var tbl *Table
	var err error
	netnstest.InNetns(t, ns, func() { tbl, err = Open() })
	if err != nil {
		t.Fatalf("Open in %s: %v", ns, err)
	}
	t.Cleanup(func() { tbl.Close() })
	return tbl
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// localRoutes lists the routes of table local in ns, IPv4 then IPv6, one
// `ip route` line each (whitespace normalized); extra filters the listing
// (e.g. "proto", "237").
func localRoutes(t *testing.T, ns string, extra ...string) []string {
	t.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		args := append([]string{"-n", ns, fam, "route", "show", "table", "local"}, extra...)
		for line := range strings.Lines(ipCmd(t, args...)) {
			if f := strings.Fields(line); len(f) > 0 {
				out = append(out, strings.Join(f, " "))
			}
		}
	}
	return out
}

// ownedRoutes lists the prefixes of the proto 237 routes in ns.
func ownedRoutes(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, l := range localRoutes(t, ns, "proto", fmt.Sprint(Proto)) {
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "local" || f[2] != "dev" || f[3] != "lo" {
			t.Errorf("unexpected proto %d route in %s: %q", Proto, ns, l)
			continue
		}
		out = append(out, f[1])
	}
	return out
}

func wantOwned(t *testing.T, ns, when string, want ...string) {
	t.Helper()
	if got := ownedRoutes(t, ns); !slices.Equal(got, want) {
		t.Errorf("%s: proto %d routes in table local = %q, want %q", when, Proto, got, want)
	}
}

// TestNetnsSyncAndFlush adds, replaces and removes IPv4 and IPv6 routes
// and checks them with ip(8).
func TestNetnsSyncAndFlush(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tbl := openIn(t, ns)

	if err := tbl.Sync([]netip.Prefix{mp("2001:db8:100::/48"), mp("203.0.113.0/24"), mp("198.51.100.0/24"), mp("203.0.113.0/24")}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	wantOwned(t, ns, "after the first Sync", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:100::/48")
	// The route is exactly an `ip route add local P dev lo` one, tagged.
	got := strings.Join(strings.Fields(ipCmd(t, "-n", ns, "route", "show", "table", "local", "root", "203.0.113.0/24")), " ")
	if want := fmt.Sprintf("local 203.0.113.0/24 dev lo proto %d scope host", Proto); got != want {
		t.Errorf("ip route show table local root 203.0.113.0/24 = %q, want %q", got, want)
	}

	// Syncing again changes nothing; a new set replaces the old.
	if err := tbl.Sync([]netip.Prefix{mp("2001:db8:100::/48"), mp("203.0.113.0/24"), mp("198.51.100.0/24")}); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	wantOwned(t, ns, "after the same Sync", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:100::/48")
	if err := tbl.Sync([]netip.Prefix{mp("203.0.113.128/25"), mp("2001:db8:200::/48")}); err != nil {
		t.Fatalf("third Sync: %v", err)
	}
	wantOwned(t, ns, "after replacing the set", "203.0.113.128/25", "2001:db8:200::/48")

	if err := tbl.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	wantOwned(t, ns, "after Flush")
	if err := tbl.Flush(); err != nil {
		t.Errorf("second Flush: %v", err)
	}
	if err := tbl.Sync(nil); err != nil {
		t.Errorf("Sync(nil): %v", err)
	}

	if err := tbl.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := tbl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tbl.Sync([]netip.Prefix{mp("203.0.113.0/24")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close = %v, want ErrClosed", err)
	}
	if err := tbl.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	var nilTable *Table
	if err := nilTable.Sync(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("nil Table Sync = %v, want ErrClosed", err)
	}
}

// TestNetnsForeignRoutesUntouched checks that Sync and Flush leave every
// route they do not own alone: the interface addresses' local routes and
// local routes added with proto static, including ones for the very
// prefixes Sync is asked for.
func TestNetnsForeignRoutesUntouched(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	ipCmd(t, "-n", ns, "route", "add", "local", "192.0.2.0/24", "dev", "lo", "proto", "static")
	ipCmd(t, "-n", ns, "-6", "route", "add", "local", "2001:db8:300::/48", "dev", "lo", "proto", "static")
	ipCmd(t, "-n", ns, "route", "add", "local", "203.0.113.0/24", "dev", "lo", "proto", "static")
	ipCmd(t, "-n", ns, "-6", "route", "add", "local", "2001:db8:100::/48", "dev", "lo", "proto", "static")
	before := localRoutes(t, ns)
	for _, want := range []string{"local 192.0.2.0/24 dev lo proto static scope host", "local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1"} {
		if !slices.Contains(before, want) {
			t.Fatalf("setup: table local %q lacks %q", before, want)
		}
	}
	tbl := openIn(t, ns)

	if err := tbl.Sync([]netip.Prefix{mp("203.0.113.0/24"), mp("2001:db8:100::/48"), mp("198.51.100.0/24")}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// IPv4 keeps both routes for 203.0.113.0/24 (they differ in protocol);
	// IPv6 keeps one local route per prefix and device, the static one.
	wantOwned(t, ns, "after Sync", "198.51.100.0/24", "203.0.113.0/24")
	if err := tbl.Sync(nil); err != nil {
		t.Fatalf("Sync(nil): %v", err)
	}
	if after := localRoutes(t, ns); !slices.Equal(after, before) {
		t.Errorf("table local after Sync(nil) =\n%q\nwant as before\n%q", after, before)
	}
	if err := tbl.Sync([]netip.Prefix{mp("203.0.113.0/24"), mp("198.51.100.0/24")}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := tbl.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if after := localRoutes(t, ns); !slices.Equal(after, before) {
		t.Errorf("table local after Flush =\n%q\nwant as before\n%q", after, before)
	}
}

// TestNetnsSyncRemovesLeftovers checks that a fresh Table's Sync removes
// the routes of an earlier one (a crashed edged) and hand-added proto 237
// routes it does not want.
func TestNetnsSyncRemovesLeftovers(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	old := openIn(t, ns)
	if err := old.Sync([]netip.Prefix{mp("203.0.113.0/24"), mp("2001:db8:100::/48")}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	old.Close() // a crash: no Flush
	p := fmt.Sprint(Proto)
	ipCmd(t, "-n", ns, "route", "add", "local", "192.0.2.0/25", "dev", "lo", "proto", p)
	ipCmd(t, "-n", ns, "-6", "route", "add", "local", "2001:db8:300::/56", "dev", "lo", "proto", p)
	wantOwned(t, ns, "before the new Table", "192.0.2.0/25", "203.0.113.0/24", "2001:db8:100::/48", "2001:db8:300::/56")

	tbl := openIn(t, ns)
	wantOwned(t, ns, "after Open (which changes nothing)", "192.0.2.0/25", "203.0.113.0/24", "2001:db8:100::/48", "2001:db8:300::/56")
	if err := tbl.Sync([]netip.Prefix{mp("203.0.113.0/24"), mp("198.51.100.0/24")}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	wantOwned(t, ns, "after the new Table's Sync", "198.51.100.0/24", "203.0.113.0/24")
	if err := tbl.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	wantOwned(t, ns, "after Flush")
}

// TestNetnsListenerReceivesWholePrefix checks what the routes are for:
// wildcard listeners in the namespace accept connections to any address
// of a synced prefix, and no longer after Flush.
func TestNetnsListenerReceivesWholePrefix(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tbl := openIn(t, ns)
	if err := tbl.Sync([]netip.Prefix{mp("203.0.113.0/24"), mp("2001:db8:100::/48")}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	type listener struct {
		ln  net.Listener
		dst string
	}
	var lns []listener
	netnstest.InNetns(t, ns, func() {
		for _, l := range []struct{ network, addr, dst string }{
			{"tcp4", "0.0.0.0:0", "203.0.113.77"},
			{"tcp6", "[::]:0", "2001:db8:100::77"},
		} {
			ln, err := net.Listen(l.network, l.addr)
			if err != nil {
				t.Errorf("listening on %s in %s: %v", l.addr, ns, err)
				return
			}
			t.Cleanup(func() { ln.Close() })
			lns = append(lns, listener{ln, l.dst})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	dial := func(dst netip.AddrPort) (net.Conn, error) {
		var c net.Conn
		var err error
		netnstest.InNetns(t, ns, func() { c, err = net.DialTimeout("tcp", dst.String(), 2*time.Second) })
		return c, err
	}
	for _, l := range lns {
		dst := netip.AddrPortFrom(netip.MustParseAddr(l.dst), uint16(l.ln.Addr().(*net.TCPAddr).Port))
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
		c, err := dial(dst)
		if err != nil {
			t.Errorf("dialing %s inside a synced prefix: %v", dst, err)
			continue
		}
		c.Close()
		select {
		case s, ok := <-accepted:
			if !ok {
				t.Errorf("accept for %s failed", dst)
				continue
			}
			if got := s.LocalAddr().(*net.TCPAddr).AddrPort(); got.Addr().Unmap() != dst.Addr() {
				t.Errorf("accepted connection's local address %s, want %s", got, dst)
			}
			s.Close()
		case <-time.After(5 * time.Second):
			t.Errorf("no connection accepted for %s", dst)
		}
	}

	if err := tbl.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for _, l := range lns {
		dst := netip.AddrPortFrom(netip.MustParseAddr(l.dst), uint16(l.ln.Addr().(*net.TCPAddr).Port))
		if c, err := dial(dst); err == nil {
			c.Close()
			t.Errorf("dialing %s after Flush succeeded, want an error (no route)", dst)
		}
	}
}

// TestNetnsSyncReportsErrors checks Sync's errors: odd prefixes are
// skipped and reported while the rest are applied, and a kernel refusal
// names the operation, the prefix and the errno.
func TestNetnsSyncReportsErrors(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tbl := openIn(t, ns)
	err := tbl.Sync([]netip.Prefix{{}, mp("203.0.113.1/24"), mp("0.0.0.0/0"), mp("::ffff:198.51.100.0/120"), mp("192.0.2.0/24")})
	for _, want := range []string{"invalid prefix", "203.0.113.1/24: host bits set", "0.0.0.0/0: a default local route", "IPv4-mapped prefix ::ffff:198.51.100.0/120"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Sync error %v, want it to mention %q", err, want)
		}
	}
	wantOwned(t, ns, "after a Sync with odd prefixes", "192.0.2.0/24")

	// With lo down the kernel refuses new IPv6 routes on it.
	ipCmd(t, "-n", ns, "link", "set", "lo", "down")
	err = tbl.Sync([]netip.Prefix{mp("192.0.2.0/24"), mp("2001:db8:100::/48")})
	if re, ok := errors.AsType[*RouteError](err); !ok || re.Op != "adding" || re.Prefix != mp("2001:db8:100::/48") || !errors.Is(err, unix.ENETDOWN) {
		t.Errorf("Sync with lo down = %v, want a *RouteError adding 2001:db8:100::/48 with ENETDOWN", err)
	} else if want := "anyip: adding local route 2001:db8:100::/48: network is down (ENETDOWN)"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Sync with lo down = %q, want it to start %q", err, want)
	} else {
		t.Logf("Sync with lo down: %v", err)
	}
	ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	if err := tbl.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// TestNetnsOpenNeedsCapNetAdmin drops CAP_NET_ADMIN from one thread and
// checks that Open, there, fails clearly instead of at the first Sync.
func TestNetnsOpenNeedsCapNetAdmin(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	var err error
	netnstest.InNetns(t, ns, func() {
		// Capabilities are per thread; this one is locked and restored.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			t.Errorf("capget: %v", err)
			return
		}
		saved := data
		data[unix.CAP_NET_ADMIN/32].Effective &^= 1 << (unix.CAP_NET_ADMIN % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			t.Errorf("capset: %v", err)
			return
		}
		var tbl *Table
		tbl, err = Open()
		if tbl != nil {
			tbl.Close()
		}
		if err := unix.Capset(&hdr, &saved[0]); err != nil {
			t.Errorf("restoring capabilities: %v", err)
			runtime.LockOSThread() // never reuse this thread
		}
	})
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Errorf("Open without CAP_NET_ADMIN = %v, want an EPERM error naming CAP_NET_ADMIN", err)
	}
}
