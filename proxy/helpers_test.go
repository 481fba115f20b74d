package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Loopback stand-ins: 127.0.0.0/8 is all local on Linux, so 127.77.0.0/16
// plays the BYOIP prefix and 127.0.0.x addresses play clients.
var (
	edgePrefix = netip.MustParsePrefix("127.77.0.0/16")
	edgeIP     = netip.MustParseAddr("127.77.0.5")
	otherEdge  = netip.MustParseAddr("127.77.0.6")
	unserved   = netip.MustParseAddr("127.78.0.1")
)

func requireCI(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

type testProxy struct {
	*Proxy
	reg *prometheus.Registry
}

func newTestProxy(t *testing.T, opts Options) *testProxy {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 2 * time.Second
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	return &testProxy{p, reg}
}

func (p *testProxy) listen(t *testing.T, tr Transport) uint16 {
	t.Helper()
	ap, err := p.Listen(t.Context(), tr, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}

func (p *testProxy) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// origin is a TCP test origin on 127.0.0.1 that counts accepted connections
// and runs handle for each.
type origin struct {
	ln       *net.TCPListener
	accepted atomic.Int64
	addr     netip.AddrPort
}

func newOrigin(t *testing.T, handle func(c *net.TCPConn)) *origin {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return serveOrigin(t, ln, handle)
}

func serveOrigin(t *testing.T, ln *net.TCPListener, handle func(c *net.TCPConn)) *origin {
	o := &origin{ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			o.accepted.Add(1)
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	})
	return o
}

// echo copies through a user-space buffer: io.Copy(c, c) would splice and
// pin a pipe in the test process, spoiling fd counts.
func echo(c *net.TCPConn) {
	b := make([]byte, 32<<10)
	for {
		n, err := c.Read(b)
		if n > 0 {
			if _, werr := c.Write(b[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// dial connects from src (zero: kernel's choice) to dst, bounded in time.
func dial(t *testing.T, src netip.Addr, dst netip.AddrPort) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 3 * time.Second}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	c, err := d.DialContext(t.Context(), "tcp", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	return tc
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

// dialFate connects and reports how the proxy treats the connection:
// "reset" (at connect or first read), "eof", "open" or "data".
func dialFate(t *testing.T, src netip.Addr, dst netip.AddrPort) string {
	t.Helper()
	d := net.Dialer{Timeout: 3 * time.Second}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	c, err := d.DialContext(t.Context(), "tcp", dst.String())
	if err != nil {
		if strings.Contains(err.Error(), "reset") {
			return "reset"
		}
		t.Fatal(err)
	}
	defer c.Close()
	return readClose(t, c, 3*time.Second)
}

// readClose waits for the connection's fate: "eof", "reset" or "open".
func readClose(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	var b [64]byte
	_, err := c.Read(b[:])
	switch {
	case err == nil:
		return "data"
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "open"
	case strings.Contains(err.Error(), "reset"):
		return "reset"
	}
	return err.Error()
}

func tcpApp(id string, port uint16, origins ...netip.AddrPort) *App {
	return &App{ID: id, ZoneID: "z1", Transport: TCP, EdgePortLow: port, EdgePortHigh: port, Origins: origins}
}

func table(apps ...*App) StaticTable {
	return StaticTable{{Prefix: edgePrefix, Apps: apps}}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return ap
}

// newDNSServer answers origin.example.com A/AAAA with target's address and
// _spectrum._tcp.example.com SRV with target's port; it returns host:port.
func newDNSServer(t *testing.T, target netip.AddrPort) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("example.com.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 30}
		switch {
		case q.Name == "origin.example.com." && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: target.Addr().AsSlice()})
		case q.Name == "_spectrum._tcp.example.com." && q.Qtype == dns.TypeSRV:
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr, Priority: 10, Weight: 5, Port: target.Port(), Target: "origin.example.com."})
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}
