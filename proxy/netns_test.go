package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The netns topology: client ns --veth-- edge ns --veth-- origin ns. The
// edge ns has AnyIP local routes for 203.0.113.0/24 and 2001:db8:100::/48;
// the client routes them to the edge.
const netnsEnv = "EDGESIM_PROXY_NETNS" // "client,edge,origin" in the child

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		requireCI(t, "skipping: needs root for network namespaces (run: sudo -E go test -race -run Netns ./proxy/)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		requireCI(t, "skipping: needs the ip command (iproute2)")
	}
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// setupNetns builds the topology and returns the namespace names; they are
// deleted on cleanup (which also removes the veths).
func setupNetns(t *testing.T) (cl, edge, org string) {
	t.Helper()
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, time.Now().UnixNano()%1000)
	cl, edge, org = "espc"+id, "espe"+id, "espo"+id
	for _, ns := range []string{cl, edge, org} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "link", "add", "vc"+id, "netns", cl, "type", "veth", "peer", "name", "ve1", "netns", edge)
	ipCmd(t, "link", "add", "vo"+id, "netns", org, "type", "veth", "peer", "name", "ve2", "netns", edge)
	for _, c := range [][]string{
		{cl, "addr", "add", "198.51.100.2/24", "dev", "vc" + id},
		{cl, "-6", "addr", "add", "2001:db8:1::2/64", "dev", "vc" + id, "nodad"},
		{cl, "link", "set", "vc" + id, "up"},
		{cl, "route", "add", "203.0.113.0/24", "via", "198.51.100.1"},
		{cl, "-6", "route", "add", "2001:db8:100::/48", "via", "2001:db8:1::1"},
		{edge, "addr", "add", "198.51.100.1/24", "dev", "ve1"},
		{edge, "-6", "addr", "add", "2001:db8:1::1/64", "dev", "ve1", "nodad"},
		{edge, "addr", "add", "192.0.2.1/24", "dev", "ve2"},
		{edge, "-6", "addr", "add", "2001:db8:2::1/64", "dev", "ve2", "nodad"},
		{edge, "link", "set", "ve1", "up"},
		{edge, "link", "set", "ve2", "up"},
		{edge, "route", "add", "local", "203.0.113.0/24", "dev", "lo"},
		{edge, "-6", "route", "add", "local", "2001:db8:100::/48", "dev", "lo"},
		{org, "addr", "add", "192.0.2.2/24", "dev", "vo" + id},
		{org, "-6", "addr", "add", "2001:db8:2::2/64", "dev", "vo" + id, "nodad"},
		{org, "link", "set", "vo" + id, "up"},
	} {
		ipCmd(t, append([]string{"-n", c[0]}, c[1:]...)...)
	}
	return cl, edge, org
}

// runInEdge re-runs the named test inside the edge namespace (so that every
// thread of the proxy, its listeners and its origin dials live there) and
// fails if it fails.
func runInEdge(t *testing.T, name string) {
	t.Helper()
	cl, edge, org := setupNetns(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", edge, os.Args[0], "-test.run", "^"+name+"$", "-test.v", "-test.timeout", "50s")
	cmd.Env = append(os.Environ(), netnsEnv+"="+cl+","+edge+","+org)
	out, err := cmd.CombinedOutput()
	t.Logf("child in %s:\n%s", edge, out)
	if err != nil {
		t.Fatalf("child test: %v", err)
	}
}

// inNS runs fn on a thread switched into the named namespace, so sockets
// fn creates belong to it.
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("setns %s: %v", ns, err)
	}
	fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return // leave the thread locked: it dies with the goroutine
	}
	runtime.UnlockOSThread()
}

func TestNetnsAnyIP(t *testing.T) {
	env := os.Getenv(netnsEnv)
	if env == "" {
		requireRoot(t)
		runInEdge(t, t.Name())
		return
	}
	nss := strings.Split(env, ",")
	cl, org := nss[0], nss[2]

	// Origins in the origin ns: TCP answers with the PROXY v2 addresses it
	// read; UDP echoes SPP.
	var ln net.Listener
	var uc *net.UDPConn
	inNS(t, org, func() {
		var err error
		if ln, err = net.Listen("tcp", "[::]:9000"); err != nil {
			t.Fatal(err)
		}
		if uc, err = net.ListenUDP("udp", &net.UDPAddr{Port: 9001}); err != nil {
			t.Fatal(err)
		}
	})
	defer ln.Close()
	defer uc.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				h, _ := readPROXY(t, c)
				src, dst, _ := h.TCPAddrs()
				fmt.Fprintf(c, "src=%s dst=%s", src.AddrPort(), dst.AddrPort())
			}()
		}
	}()
	go func() {
		b := make([]byte, 2048)
		for {
			n, from, err := uc.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			if cl, _, _, err := ParseSPP(b[:n]); err == nil {
				copy(b[n:], fmt.Sprintf(" client=%s", cl))
				uc.WriteToUDPAddrPort(b[:n+len(fmt.Sprintf(" client=%s", cl))], from)
			}
		}
	}()

	p := newTestProxy(t, Options{})
	tport, uport := p.listen(t, TCP), p.listen(t, UDP)
	// IPv6 specific bind inside the AnyIP prefix needs IP_FREEBIND.
	specific := netip.MustParseAddrPort("[2001:db8:100::9]:0")
	sln, err := ListenTCP(t.Context(), specific, 0)
	if err != nil {
		t.Fatalf("specific IPv6 bind with IP_FREEBIND: %v", err)
	}
	sport := uint16(sln.Addr().(*net.TCPAddr).Port)
	go p.ServeTCP(t.Context(), sln)

	o4, o6 := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8:2::2")
	mk := func(id string, tr Transport, port uint16, pp ProxyProtocol, o netip.Addr, oport uint16) *App {
		return &App{ID: id, Transport: tr, EdgePortLow: port, EdgePortHigh: port, ProxyProtocol: pp,
			Origins: []netip.AddrPort{netip.AddrPortFrom(o, oport)}, IPFirewall: true}
	}
	fw := Rules([]AccessRule{{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Action: Whitelist}})
	p.Store(&Config{Firewall: fw, Table: StaticTable{
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Apps: []*App{
			mk("t4", TCP, tport, ProxyV2, o4, 9000), mk("u4", UDP, uport, ProxySimple, o4, 9001)}},
		{Prefix: netip.MustParsePrefix("2001:db8:100::/48"), Apps: []*App{
			mk("t6", TCP, tport, ProxyV2, o6, 9000), mk("s6", TCP, sport, ProxyV2, o6, 9000), mk("u6", UDP, uport, ProxySimple, o6, 9001)}},
	}})

	for _, tt := range []struct{ edge, client string }{
		{"203.0.113.77", "198.51.100.2"},
		{"203.0.113.200", "198.51.100.2"},
		{"2001:db8:100::5", "2001:db8:1::2"},
		{"2001:db8:100:ff::1", "2001:db8:1::2"},
	} {
		dst := netip.AddrPortFrom(netip.MustParseAddr(tt.edge), tport)
		var c net.Conn
		inNS(t, cl, func() { c, err = net.DialTimeout("tcp", dst.String(), 3*time.Second) })
		if err != nil {
			t.Fatalf("dial %v: %v", dst, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		want := fmt.Sprintf("src=%s dst=%s", c.LocalAddr(), dst)
		if string(b) != want {
			t.Errorf("tcp via %v: origin saw %q, want %q", dst, b, want)
		}
		if !strings.Contains(c.LocalAddr().String(), tt.client) {
			t.Errorf("client address %v, want %s", c.LocalAddr(), tt.client)
		}

		udst := netip.AddrPortFrom(netip.MustParseAddr(tt.edge), uport)
		var u *net.UDPConn
		inNS(t, cl, func() { u, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(udst)) })
		if err != nil {
			t.Fatal(err)
		}
		got, err := udpAsk(t, u, "ping")
		u.Close()
		if want := "ping client=" + u.LocalAddr().(*net.UDPAddr).AddrPort().String(); err != nil || got != want {
			t.Errorf("udp via %v: %q, %v; want %q", udst, got, err, want)
		}
	}

	dst := netip.AddrPortFrom(specific.Addr(), sport)
	var c net.Conn
	inNS(t, cl, func() { c, err = net.DialTimeout("tcp", dst.String(), 3*time.Second) })
	if err != nil {
		t.Fatalf("dial specific %v: %v", dst, err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := bufio.NewReader(c).ReadString(0)
	c.Close()
	if !strings.HasSuffix(b, "dst="+dst.String()) {
		t.Errorf("specific bind: origin saw %q", b)
	}
}
