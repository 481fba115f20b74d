package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

func TestTCPEcho(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	port := p.listen(t, TCP)
	o := newOrigin(t, echo)
	p.Store(&Config{Table: table(tcpApp("a1", port, o.addr))})
	c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
	roundTrip(t, c, "hello")
	roundTrip(t, c, strings.Repeat("x", 100000))
	c.Close()
	waitFor(t, func() bool {
		return p.counter(t, "edgesim_proxy_bytes_total", "app", "a1", "direction", "to_client") == 100005
	})
	if got := p.counter(t, "edgesim_proxy_bytes_total", "app", "a1", "direction", "to_origin"); got != 100005 {
		t.Errorf("bytes to origin = %v, want 100005", got)
	}
	if got := p.counter(t, "edgesim_proxy_connections_total", "app", "a1"); got != 1 {
		t.Errorf("connections = %v, want 1", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}

func TestTCPFailover(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	port := p.listen(t, TCP)
	o := newOrigin(t, echo)
	p.Store(&Config{Table: table(tcpApp("a1", port, closedPort(t), o.addr))})
	c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
	roundTrip(t, c, "failover")
	if got := p.counter(t, "edgesim_proxy_origin_failures_total", "app", "a1"); got != 1 {
		t.Errorf("origin failures = %v, want 1", got)
	}
	// All origins down: the client is reset.
	p.Store(&Config{Table: table(tcpApp("a1", port, closedPort(t)))})
	if got := dialFate(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port)); got != "reset" {
		t.Errorf("no origin: client saw %s, want reset", got)
	}
}

func TestTCPFirewall(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	port := p.listen(t, TCP)
	o := newOrigin(t, echo)
	app := tcpApp("fw", port, o.addr)
	app.IPFirewall = true
	open := tcpApp("open", 0, o.addr) // same rules, firewall off
	blocked, challenged, allowed := netip.MustParseAddr("127.0.0.9"), netip.MustParseAddr("127.0.1.7"), netip.MustParseAddr("127.0.1.8")
	fw := Rules([]AccessRule{
		{Prefix: netip.MustParsePrefix("127.0.0.9/32"), Action: Block},
		{Prefix: netip.MustParsePrefix("127.0.1.0/24"), Action: Challenge},
		{Prefix: netip.MustParsePrefix("127.0.1.8/32"), Action: Whitelist},
	})
	port2 := p.listen(t, TCP)
	open.EdgePortLow, open.EdgePortHigh = port2, port2
	p.Store(&Config{Table: table(app, open), Firewall: fw})
	for _, src := range []netip.Addr{blocked, challenged} {
		if got := dialFate(t, src, netip.AddrPortFrom(edgeIP, port)); got != "reset" {
			t.Errorf("client %v: %s, want reset", src, got)
		}
	}
	if n := o.accepted.Load(); n != 0 {
		t.Fatalf("blocked clients caused %d origin connections", n)
	}
	if got := p.counter(t, "edgesim_proxy_firewall_refusals_total", "app", "fw"); got != 2 {
		t.Errorf("firewall refusals = %v, want 2", got)
	}
	roundTrip(t, dial(t, allowed, netip.AddrPortFrom(edgeIP, port)), "whitelisted")
	roundTrip(t, dial(t, blocked, netip.AddrPortFrom(edgeIP, port2)), "ip_firewall off")
}

func TestRules(t *testing.T) {
	t.Parallel()
	fw := Rules([]AccessRule{
		{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Action: Block},
		{Prefix: netip.MustParsePrefix("192.0.2.128/25"), Action: Whitelist},
		{Prefix: netip.MustParsePrefix("192.0.2.200/32"), Action: Challenge},
		{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Action: Block},
		{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Action: Whitelist},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), Action: Block},
	})
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"192.0.2.1", false}, {"192.0.2.129", true}, {"192.0.2.200", false}, {"198.51.100.7", true},
		{"203.0.113.1", true}, {"2001:db8::1", false}, {"::ffff:192.0.2.1", false},
	} {
		if got := fw(nil, netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("Rules(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTCPNoAppAndNotServed(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	port, other := p.listen(t, TCP), p.listen(t, TCP)
	o := newOrigin(t, echo)
	p.Store(&Config{Table: table(tcpApp("a1", port, o.addr))})
	start := time.Now()
	c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, other))
	if got := readClose(t, c, 3*time.Second); got != "eof" {
		t.Errorf("served IP, no app: %s, want eof", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("no-app close took %v", d)
	}
	if got := dialFate(t, netip.Addr{}, netip.AddrPortFrom(unserved, port)); got != "reset" {
		t.Errorf("unserved IP: %s, want reset", got)
	}
	if n := o.accepted.Load(); n != 0 {
		t.Errorf("origin connections = %d, want 0", n)
	}
}

// freePorts finds n consecutive free TCP ports on loopback and returns the
// first (the caller binds them right away; a lost race fails the test).
func freePorts(t *testing.T, n int) uint16 {
	t.Helper()
	var b [2]byte
	for range 50 {
		rand.Read(b[:])
		base := 20000 + (uint16(b[0])<<8|uint16(b[1]))%10000
		ok := true
		for i := range uint16(n) {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", base+i))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no consecutive free ports")
	return 0
}

func TestTCPPortRange(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	edgeBase := freePorts(t, 3)
	for i := range uint16(3) {
		if _, err := p.Listen(t.Context(), TCP, edgeBase+i); err != nil {
			t.Fatal(err)
		}
	}
	originBase := freePorts(t, 3)
	for i := range uint16(3) {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(originBase + i)})
		if err != nil {
			t.Fatal(err)
		}
		serveOrigin(t, ln, func(c *net.TCPConn) { fmt.Fprintf(c, "%d", c.LocalAddr().(*net.TCPAddr).Port) })
	}
	app := &App{ID: "range", Transport: TCP, EdgePortLow: edgeBase, EdgePortHigh: edgeBase + 2,
		Origins:       []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)},
		OriginPortLow: originBase, OriginPortHigh: originBase + 2}
	p.Store(&Config{Table: table(app)})
	for i := range uint16(3) {
		c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, edgeBase+i))
		b, _ := io.ReadAll(c)
		if want := strconv.Itoa(int(originBase + i)); string(b) != want {
			t.Errorf("edge port %d reached origin port %q, want %s", edgeBase+i, b, want)
		}
	}
}

func TestTCPHalfClose(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	port := p.listen(t, TCP)
	o := newOrigin(t, func(c *net.TCPConn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c) // until the client's FIN
		if err != nil {
			return
		}
		fmt.Fprintf(c, "got %d bytes", len(b))
		c.CloseWrite()
	})
	p.Store(&Config{Table: table(tcpApp("a1", port, o.addr))})
	c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
	io.WriteString(c, "half-closed request")
	c.CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "got 19 bytes" {
		t.Fatalf("reply after half-close = %q, %v", b, err)
	}
}

func TestTCPResetPropagation(t *testing.T) {
	t.Parallel()
	t.Run("client", func(t *testing.T) {
		t.Parallel()
		p := newTestProxy(t, Options{})
		port := p.listen(t, TCP)
		res := make(chan string, 1)
		o := newOrigin(t, func(c *net.TCPConn) {
			io.ReadFull(c, make([]byte, 2))
			res <- readClose(t, c, 5*time.Second)
		})
		p.Store(&Config{Table: table(tcpApp("a1", port, o.addr))})
		c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
		io.WriteString(c, "hi")
		time.Sleep(50 * time.Millisecond)
		reset(c)
		if got := <-res; got != "reset" {
			t.Errorf("origin saw %s after client reset, want reset", got)
		}
	})
	t.Run("origin", func(t *testing.T) {
		t.Parallel()
		p := newTestProxy(t, Options{})
		port := p.listen(t, TCP)
		o := newOrigin(t, func(c *net.TCPConn) {
			io.ReadFull(c, make([]byte, 2))
			reset(c)
		})
		p.Store(&Config{Table: table(tcpApp("a1", port, o.addr))})
		c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
		io.WriteString(c, "hi")
		if got := readClose(t, c, 5*time.Second); got != "reset" {
			t.Errorf("client saw %s after origin reset, want reset", got)
		}
	})
}

func TestTCPConfigSwap(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	port := p.listen(t, TCP)
	tag := func(name string) func(c *net.TCPConn) {
		return func(c *net.TCPConn) {
			r := bufio.NewReader(c)
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%s:%s", name, l)
			}
		}
	}
	o1, o2 := newOrigin(t, tag("o1")), newOrigin(t, tag("o2"))
	p.Store(&Config{Table: table(tcpApp("a1", port, o1.addr))})
	old := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
	ask := func(c net.Conn) string {
		fmt.Fprintf(c, "ping\n")
		l, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("ask: %v", err)
		}
		return l
	}
	if got := ask(old); got != "o1:ping\n" {
		t.Fatalf("before swap: %q", got)
	}
	p.Store(&Config{Table: table(tcpApp("a1", port, o2.addr))})
	if got := ask(dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))); got != "o2:ping\n" {
		t.Errorf("new connection after swap: %q, want o2", got)
	}
	p.Store(&Config{}) // nothing served any more
	if got := dialFate(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port)); got != "reset" {
		t.Errorf("new connection after unserving: %s, want reset", got)
	}
	if got := ask(old); got != "o1:ping\n" {
		t.Errorf("established connection after swaps: %q, want o1", got)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{IdleTimeout: 300 * time.Millisecond})
	port := p.listen(t, TCP)
	o := newOrigin(t, echo)
	p.Store(&Config{Table: table(tcpApp("a1", port, o.addr))})
	c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
	// Activity in one direction only keeps the connection: the client
	// writes every 100ms, the echo comes back, for 600ms.
	for range 6 {
		roundTrip(t, c, "x")
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	if got := readClose(t, c, 3*time.Second); got != "eof" {
		t.Fatalf("idle connection: %s, want eof", got)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("idle close after %v, want about 300ms", d)
	}
}

func TestTCPShutdownDrains(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	port := p.listen(t, TCP)
	o := newOrigin(t, echo)
	p.Store(&Config{Table: table(tcpApp("a1", port, o.addr))})
	c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
	roundTrip(t, c, "before")
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	go func() { done <- p.Shutdown(ctx) }()
	waitFor(t, func() bool {
		_, err := net.DialTimeout("tcp", netip.AddrPortFrom(edgeIP, port).String(), time.Second)
		return err != nil
	})
	roundTrip(t, c, "during drain")
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a connection open", err)
	default:
	}
	c.Close()
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v, want nil after drain", err)
	}

	// A deadline closes what is left.
	p2 := newTestProxy(t, Options{})
	port2 := p2.listen(t, TCP)
	p2.Store(&Config{Table: table(tcpApp("a1", port2, o.addr))})
	c2 := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port2))
	roundTrip(t, c2, "x")
	ctx2, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel2()
	if err := p2.Shutdown(ctx2); err != context.DeadlineExceeded {
		t.Errorf("Shutdown past deadline = %v", err)
	}
	if got := readClose(t, c2, 3*time.Second); got == "open" || got == "data" {
		t.Errorf("connection after forced shutdown: %s", got)
	}
}

// TestTCPSplice checks that the data path hands bare *net.TCPConn (inside
// an *io.LimitedReader, which net's splice unwraps) to io.Copy, and that
// splice pipes are in use during a transfer but not held by idle
// connections.
func TestTCPSplice(t *testing.T) { // not parallel: it sets a package hook and counts fds
	var calls, bad atomic.Int64
	hook := func(dst io.Writer, src io.Reader) {
		calls.Add(1)
		_, dok := dst.(*net.TCPConn)
		lr, lok := src.(*io.LimitedReader)
		if !dok || !lok {
			bad.Add(1)
			return
		}
		if _, ok := lr.R.(*net.TCPConn); !ok {
			bad.Add(1)
		}
	}
	testHookCopy.Store(&hook)
	defer testHookCopy.Store(nil)

	p := newTestProxy(t, Options{})
	port := p.listen(t, TCP)
	o := newOrigin(t, func(c *net.TCPConn) { io.Copy(io.Discard, c); c.Write([]byte("done")) })
	p.Store(&Config{Table: table(tcpApp("a1", port, o.addr))})
	base := settledFDs(t, "pipe:")
	c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
	buf := make([]byte, 1<<20)
	maxPipes := 0
	for i := range 64 {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if i%8 == 7 {
			maxPipes = max(maxPipes, countFDs(t, "pipe:")-base)
		}
	}
	c.CloseWrite()
	if b, _ := io.ReadAll(c); string(b) != "done" {
		t.Fatalf("transfer reply %q", b)
	}
	if calls.Load() == 0 || bad.Load() != 0 {
		t.Fatalf("copies: %d, with wrong types: %d", calls.Load(), bad.Load())
	}
	if maxPipes == 0 {
		t.Errorf("no splice pipe seen during a 64 MiB transfer: not splicing")
	}

	// Idle connections hold no pipes: 100 connections, one byte each way.
	var conns []*net.TCPConn
	p.Store(&Config{Table: table(tcpApp("a1", port, newOrigin(t, echo).addr))})
	for range 100 {
		c := dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
		roundTrip(t, c, "1")
		conns = append(conns, c)
	}
	if extra := settledFDs(t, "pipe:") - base; extra > 16 {
		t.Errorf("%d pipe fds with 100 idle connections (pool included), want <= 16", extra)
	}
}

// settledFDs counts fds after letting GC close pipes the race detector's
// sync.Pool dropped (it discards a share of Puts on purpose).
func settledFDs(t *testing.T, prefix string) int {
	for range 3 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	return countFDs(t, prefix)
}

func countFDs(t *testing.T, prefix string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("skipping fd count: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// readPROXY reads a PROXY header (v1 or v2) with go-proxyproto, an
// independent parser, and returns it with the rest of the stream.
func readPROXY(t *testing.T, c net.Conn) (*proxyproto.Header, *bufio.Reader) {
	t.Helper()
	r := bufio.NewReader(c)
	h, err := proxyproto.Read(r)
	if err != nil {
		t.Fatalf("reading PROXY header: %v", err)
	}
	return h, r
}

func TestTCPProxyProtocol(t *testing.T) {
	t.Parallel()
	for _, pp := range []ProxyProtocol{ProxyV1, ProxyV2} {
		t.Run(pp.String(), func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, Options{})
			port := p.listen(t, TCP)
			hdrs := make(chan *proxyproto.Header, 1)
			o := newOrigin(t, func(c *net.TCPConn) {
				h, r := readPROXY(t, c)
				hdrs <- h
				io.Copy(c, r)
			})
			app := tcpApp("a1", port, o.addr)
			app.ProxyProtocol = pp
			p.Store(&Config{Table: table(app)})
			client := netip.MustParseAddr("127.0.0.33")
			c := dial(t, client, netip.AddrPortFrom(edgeIP, port))
			roundTrip(t, c, "payload after header")
			h := <-hdrs
			src, dst, ok := h.TCPAddrs()
			if !ok || h.Version != byte(pp) {
				t.Fatalf("header %+v", h)
			}
			if src.AddrPort() != c.LocalAddr().(*net.TCPAddr).AddrPort() {
				t.Errorf("header source %v, want client %v", src, c.LocalAddr())
			}
			if got := dst.AddrPort(); got.Addr().Unmap() != edgeIP || got.Port() != port {
				t.Errorf("header destination %v, want edge %v:%d", dst, edgeIP, port)
			}
		})
	}
}

func TestTCPOriginDNS(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, echo)
	srv := newDNSServer(t, o.addr)
	for _, typ := range []string{"", "A", "SRV"} {
		t.Run("type="+typ, func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, Options{Resolver: srv})
			port := p.listen(t, TCP)
			app := &App{ID: "dns", Transport: TCP, EdgePortLow: port, EdgePortHigh: port,
				OriginDNS: &OriginDNS{Name: "origin.example.com", Type: typ, TTL: time.Minute}}
			if typ == "SRV" {
				app.OriginDNS.Name = "_spectrum._tcp.example.com"
			} else {
				app.OriginPortLow = o.addr.Port()
			}
			p.Store(&Config{Table: table(app)})
			for range 2 { // second from cache
				roundTrip(t, dial(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port)), "via dns")
			}
		})
	}
}
