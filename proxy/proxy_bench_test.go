package proxy

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

var (
	benchClient = netip.MustParseAddrPort("192.0.2.1:40000")
	benchEdge   = netip.MustParseAddrPort("203.0.113.5:443")
)

func TestHotPathAllocs(t *testing.T) {
	var buf [MaxProxyHeaderLen]byte
	spp := make([]byte, SPPLen+8)
	tbl := table(tcpApp("a1", 443))
	fw := Rules([]AccessRule{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Action: Block}})
	for name, fn := range map[string]func(){
		"AppendProxyHeader v1": func() { AppendProxyHeader(buf[:0], ProxyV1, TCP, benchClient, benchEdge) },
		"AppendProxyHeader v2": func() { AppendProxyHeader(buf[:0], ProxyV2, TCP, benchClient, benchEdge) },
		"PutSPP":               func() { PutSPP(spp, benchClient, benchEdge) },
		"ParseSPP":             func() { ParseSPP(spp) },
		"StaticTable.Route":    func() { tbl.Route(edgeIP, TCP, 443) },
		"Rules":                func() { fw(nil, benchClient.Addr()) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

func BenchmarkAppendProxyHeader(b *testing.B) {
	var buf [MaxProxyHeaderLen]byte
	for _, pp := range []ProxyProtocol{ProxyV1, ProxyV2} {
		b.Run(pp.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				AppendProxyHeader(buf[:0], pp, TCP, benchClient, benchEdge)
			}
		})
	}
}

func BenchmarkSPP(b *testing.B) {
	d := make([]byte, SPPLen+64)
	b.ReportAllocs()
	for b.Loop() {
		PutSPP(d, benchClient, benchEdge)
		ParseSPP(d)
	}
}

// BenchmarkTCPConnect: connect, 1-byte request, reply, close, through the
// proxy with lookup, firewall and PROXY v2 on (client, proxy and origin in
// one process; bench/proxyload compares against HAProxy).
func BenchmarkTCPConnect(b *testing.B) {
	p, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(b.Context())
	ap, err := p.Listen(b.Context(), TCP, 0)
	if err != nil {
		b.Fatal(err)
	}
	ln, _ := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 64)
				if n, _ := io.ReadAtLeast(c, b, 29); n >= 29 { // 28-byte header + 1
					c.Write(b[:1])
				}
			}()
		}
	}()
	app := tcpApp("bench", ap.Port(), ln.Addr().(*net.TCPAddr).AddrPort())
	app.ProxyProtocol, app.IPFirewall = ProxyV2, true
	p.Store(&Config{Table: table(app), Firewall: Rules([]AccessRule{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Action: Block}})})
	dst := netip.AddrPortFrom(edgeIP, ap.Port()).String()
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.DialTimeout("tcp", dst, 2*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		var one [1]byte
		c.Write(one[:])
		if _, err := io.ReadFull(c, one[:]); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
}

// BenchmarkTCPThroughput moves 1 MiB chunks one way through the proxy.
func BenchmarkTCPThroughput(b *testing.B) {
	p, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(b.Context())
	ap, _ := p.Listen(b.Context(), TCP, 0)
	ln, _ := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer ln.Close()
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	p.Store(&Config{Table: table(tcpApp("bench", ap.Port(), ln.Addr().(*net.TCPAddr).AddrPort()))})
	c, err := net.Dial("tcp", netip.AddrPortFrom(edgeIP, ap.Port()).String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}
