package edgelab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgesim/edgesim/internal/netnstest"
	"github.com/edgesim/edgesim/netlab"
)

// buildBinaries compiles edged and edgectl into a temporary directory.
func buildBinaries(t *testing.T) (edged, edgectl string) {
	t.Helper()
	dir := t.TempDir()
	for _, c := range []string{"edged", "edgectl"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), "github.com/edgesim/edgesim/cmd/"+c).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", c, err, out)
		}
	}
	return filepath.Join(dir, "edged"), filepath.Join(dir, "edgectl")
}

// dialFrom connects from namespace ns.
func dialFrom(t *testing.T, ns, network string, to netip.AddrPort) (c net.Conn, err error) {
	netnstest.InNetns(t, ns, func() { c, err = net.DialTimeout(network, to.String(), 3*time.Second) })
	return c, err
}

// sshSession connects from the client namespace to the SSH app, reads the
// origin's banner and checks an echo round trip; it returns the banner.
func sshSession(t *testing.T, l *Lab) (string, error) {
	c, err := dialFrom(t, l.Client.Name, "tcp", netip.AddrPortFrom(DemoDelegated, SSHPort))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var banner []string
	for range 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			return strings.Join(banner, ""), fmt.Errorf("reading the banner: %w", err)
		}
		banner = append(banner, line)
	}
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return "", err
	}
	if echo, err := r.ReadString('\n'); err != nil || echo != "ping\n" {
		return "", fmt.Errorf("echo: %q, %v", echo, err)
	}
	return strings.Join(banner, ""), nil
}

// TestNetnsLabEndToEnd drives the whole workflow from the outside, as a
// user would: the HTTP API, a client in the client namespace, the FRR
// peer's view. Onboard with validation, delegate, bind, advertise: FRR has
// the route; account B's Spectrum app on the delegated IP: a TCP client
// reaches the origin, which sees the client's address in the PROXY v2
// header, and UDP with SPP; DNS answers the app's name; edged restarts
// mid-way with its state, routes and data path back; withdraw: FRR loses
// the route and new connections fail.
func TestNetnsLabEndToEnd(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "vtysh")
	netnstest.RequireBinary(t, netlab.FRRBinDir+"/bgpd")
	netnstest.RequireBinary(t, netlab.FRRBinDir+"/zebra")
	netnstest.RequireBinary(t, "ss")
	edged, edgectl := buildBinaries(t)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	var progress strings.Builder
	l, err := Up(ctx, Options{
		Dir: t.TempDir(), Edged: edged, Origin: []string{edgectl, "lab", "origin"},
		API: "127.0.0.1:0", Progress: &progress,
	})
	if err != nil {
		t.Fatalf("lab up: %v\n%s", err, progress.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"edged.log", "origin.log"} {
				b, _ := os.ReadFile(filepath.Join(l.Dir, f))
				t.Logf("%s:\n%s", f, tail(b, 60))
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
		if netlab.NetnsExists(l.Edge.Name) {
			t.Errorf("namespace %s left after Close", l.Edge.Name)
		}
	})
	ssh := netip.AddrPortFrom(DemoDelegated, SSHPort)
	d := l.NewDemo()
	step := func(name string, fn func(context.Context) error) {
		t.Helper()
		if err := fn(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// Nothing of the customer's is announced before it is approved,
	// bound and advertised; the edge's own anycast pool is.
	if err := l.WaitRoute(ctx, netip.MustParsePrefix("198.51.100.0/24"), true); err != nil {
		t.Fatalf("the anycast pool: %v", err)
	}
	step("onboard", d.Onboard)
	step("delegate", d.Delegate)
	step("bind", d.Bind)
	if rs, err := l.FRR.Route(ctx, DemoPrefix); err != nil || len(rs) != 0 {
		t.Fatalf("FRR has %s before it is advertised: %+v (err %v)", DemoPrefix, rs, err)
	}
	step("advertise", func(ctx context.Context) error { return d.Advertise(ctx, true) })
	if err := l.WaitRoute(ctx, DemoPrefix, true); err != nil {
		t.Fatal(err)
	}
	rs, err := l.FRR.Route(ctx, DemoPrefix)
	if err != nil || len(rs) != 1 || rs[0].ASPath != "13335" || len(rs[0].NextHops) == 0 || rs[0].NextHops[0] != l.EdgeAddr.String() {
		t.Fatalf("FRR's route for %s: %+v (err %v), want AS path 13335 via %s", DemoPrefix, rs, err, l.EdgeAddr)
	}
	// Both ends agree on what went over each session (edged counts only
	// the families the peer negotiated: IPv4 on the IPv4 session, IPv6 on
	// the IPv6 one).
	if err := d.poll(ctx, "edged's sent counts to match FRR's received counts", func() (bool, error) {
		st := GetStatus(ctx, l.Dir, strings.TrimPrefix(l.API, "http://"))
		got := map[string]int{}
		for _, p := range st.EdgedPeers {
			got[p.Neighbor] = p.Prefixes
		}
		frr := map[string]int{}
		for _, p := range st.FRRPeers {
			frr[p.Neighbor] = p.Prefixes
		}
		ok := len(got) == 2 && got[l.PeerAddr.String()] == 2 && got[l.PeerAddr6.String()] == 1 &&
			frr[l.EdgeAddr.String()] == 2 && frr[l.EdgeAddr6.String()] == 1
		if !ok {
			return false, fmt.Errorf("edged sent %v, FRR received %v (%v); want 2 over IPv4 and 1 over IPv6", got, frr, st.Error)
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	// The peer installed it in its kernel: the client's traffic goes to
	// the edge.
	if out, err := l.Peer.Exec(ctx, "ip", "route", "get", DemoDelegated.String()); err != nil || !strings.Contains(string(out), "via "+l.EdgeAddr.String()) {
		t.Fatalf("peer's route to %s: %s (err %v), want via %s", DemoDelegated, out, err, l.EdgeAddr)
	}

	// Before the app exists, the served address has no app on port 22:
	// the edge closes the connection without reaching the origin.
	if banner, err := sshSession(t, l); err == nil {
		t.Fatalf("a connection to %s before the app exists reached an origin: %q", ssh, banner)
	}
	step("apps", d.Apps)
	wantBanner := fmt.Sprintf("SSH-2.0-edgesim_demo_origin\nproxy-protocol: v2 TCP4 client %s:", l.ClientAddr)
	wantEdge := fmt.Sprintf(" -> edge %s\n", ssh)
	var banner string
	err = d.poll(ctx, "the ssh app to reach the origin", func() (bool, error) {
		banner, err = sshSession(t, l)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(banner, wantBanner) || !strings.HasSuffix(banner, wantEdge) {
		t.Fatalf("origin banner through the edge:\n%s\nwant the PROXY v2 line with client %s and edge %s", banner, l.ClientAddr, ssh)
	}
	t.Logf("the origin, through the edge:\n%s", banner)
	checkUDP(t, l)
	checkDNS(t, l, SSHName, DemoDelegated)

	// Restart edged: its state, the route and the data path come back
	// without any API call.
	l.StopEdged()
	if err := l.WaitRoute(ctx, DemoPrefix, false); err != nil {
		t.Fatalf("edged stopped with SIGTERM but the peer kept the route: %v", err)
	}
	if err := l.StartEdged(ctx); err != nil {
		t.Fatal(err)
	}
	var pfx struct {
		Approved   string `json:"approved"`
		Advertised *bool  `json:"advertised"`
	}
	if err := d.call(ctx, d.A, "GET", d.prefixPath(""), nil, &pfx); err != nil || pfx.Approved != "V" || pfx.Advertised == nil || !*pfx.Advertised {
		t.Fatalf("after the restart the prefix is %+v (err %v), want approved and advertised", pfx, err)
	}
	if err := l.WaitRoute(ctx, DemoPrefix, true); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if err := d.poll(ctx, "the ssh app after the restart", func() (bool, error) {
		b, err := sshSession(t, l)
		return err == nil && strings.HasPrefix(b, wantBanner), err
	}); err != nil {
		t.Fatal(err)
	}
	checkDNS(t, l, SSHName, DemoDelegated)

	// Withdraw: the peer loses the route and new connections fail.
	step("withdraw", func(ctx context.Context) error { return d.Advertise(ctx, false) })
	if err := l.WaitRoute(ctx, DemoPrefix, false); err != nil {
		t.Fatal(err)
	}
	if banner, err := sshSession(t, l); err == nil {
		t.Fatalf("after the withdrawal a new connection still reached the origin: %q", banner)
	}
}

// checkUDP sends a datagram from the client to the echo app and checks the
// origin decoded the SPP header: the client's address and the edge's.
func checkUDP(t *testing.T, l *Lab) {
	t.Helper()
	c, err := dialFrom(t, l.Client.Name, "udp", netip.AddrPortFrom(DemoDelegated, EchoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	want := fmt.Sprintf("spp: client %s:%d -> edge %s:%d: hello", l.ClientAddr, c.LocalAddr().(*net.UDPAddr).Port, DemoDelegated, EchoPort)
	for try := range 20 {
		c.Write([]byte("hello"))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			if got := string(buf[:n]); got != want {
				t.Fatalf("UDP echo through the edge: %q, want %q", got, want)
			}
			return
		}
		if try == 19 {
			t.Fatalf("no UDP echo through the edge: %v", err)
		}
	}
}

// checkDNS asks edged's DNS, from the client namespace, for name's A record.
func checkDNS(t *testing.T, l *Lab, name string, want netip.Addr) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	var r *dns.Msg
	var err error
	netnstest.InNetns(t, l.Client.Name, func() {
		c := &dns.Client{Timeout: 3 * time.Second}
		r, _, err = c.Exchange(m, l.DNS.String())
	})
	if err != nil {
		t.Fatalf("DNS query for %s: %v", name, err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("DNS answer for %s: %v", name, r)
	}
	if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != want.String() {
		t.Fatalf("DNS answer for %s: %v, want %s", name, r.Answer[0], want)
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestCheckToolsNamesMissingPackages: a missing FRR daemon is reported
// with its Debian package and the make target that installs it.
func TestCheckToolsNamesMissingPackages(t *testing.T) {
	old := netlab.FRRBinDir
	netlab.FRRBinDir = t.TempDir()
	defer func() { netlab.FRRBinDir = old }()
	err := CheckTools()
	if err == nil {
		t.Fatal("CheckTools passed without bgpd and zebra")
	}
	for _, want := range []string{"bgpd (Debian package frr)", "zebra (Debian package frr)", "make deps"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckTools: %v; want it to mention %q", err, want)
		}
	}
}
