package proxy

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

type udpSeen struct {
	from    netip.AddrPort
	client  netip.AddrPort // from SPP or PROXY v2, when present
	edge    netip.AddrPort
	payload string
}

// newUDPOrigin answers each datagram. With SPP it decodes the header and
// replies with the same header in front of "re:"+payload; otherwise it
// parses a PROXY v2 header when one is present and replies "re:"+payload.
func newUDPOrigin(t *testing.T, spp bool) (netip.AddrPort, <-chan udpSeen) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	seen := make(chan udpSeen, 100)
	go func() {
		b := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			d := b[:n]
			s := udpSeen{from: from}
			var reply []byte
			switch {
			case spp:
				cl, ed, payload, err := ParseSPP(d)
				if err != nil {
					continue // SPP origins drop datagrams without a header
				}
				s.client, s.edge, s.payload = cl, ed, string(payload)
				reply = append(append(append([]byte{}, d[:SPPLen]...), "re:"...), payload...)
			case bytes.HasPrefix(d, v2Sig[:]):
				h, payload, err := proxyproto.ParseUDPDatagram(d)
				if err != nil {
					continue
				}
				src, dst, _ := h.UDPAddrs()
				s.client, s.edge, s.payload = src.AddrPort(), dst.AddrPort(), string(payload)
				reply = append([]byte("re:"), payload...)
			default:
				s.payload = string(d)
				reply = append([]byte("re:"), d...)
			}
			seen <- s
			c.WriteToUDPAddrPort(reply, from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), seen
}

func udpApp(id string, port uint16, pp ProxyProtocol, origin netip.AddrPort) *App {
	return &App{ID: id, Transport: UDP, EdgePortLow: port, EdgePortHigh: port, Origins: []netip.AddrPort{origin}, ProxyProtocol: pp}
}

// udpClient is a connected socket: it only accepts replies from the edge
// address it sent to, which checks that replies leave from it.
func udpClient(t *testing.T, src netip.Addr, dst netip.AddrPort) *net.UDPConn {
	t.Helper()
	var laddr *net.UDPAddr
	if src.IsValid() {
		laddr = &net.UDPAddr{IP: src.AsSlice()}
	}
	c, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udpAsk(t *testing.T, c *net.UDPConn, msg string) (string, error) {
	t.Helper()
	return udpAskWithin(t, c, msg, 2*time.Second)
}

func udpAskWithin(t *testing.T, c *net.UDPConn, msg string, within time.Duration) (string, error) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(within))
	b := make([]byte, 2048)
	n, err := c.Read(b)
	return string(b[:n]), err
}

func TestUDPRelay(t *testing.T) {
	t.Parallel()
	for _, pp := range []ProxyProtocol{ProxyOff, ProxySimple, ProxyV2} {
		t.Run(pp.String(), func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, Options{})
			port := p.listen(t, UDP)
			o, seen := newUDPOrigin(t, pp == ProxySimple)
			p.Store(&Config{Table: table(udpApp("u1", port, pp, o))})
			src := netip.MustParseAddr("127.0.0.44")
			c := udpClient(t, src, netip.AddrPortFrom(edgeIP, port))
			client := c.LocalAddr().(*net.UDPAddr).AddrPort()
			edge := netip.AddrPortFrom(edgeIP, port)
			for i := range 3 {
				msg := fmt.Sprintf("dgram %d", i)
				got, err := udpAsk(t, c, msg)
				if err != nil || got != "re:"+msg {
					t.Fatalf("reply %d = %q, %v", i, got, err)
				}
				s := <-seen
				if s.payload != msg {
					t.Errorf("origin got payload %q, want %q", s.payload, msg)
				}
				wantHeader := pp == ProxySimple || (pp == ProxyV2 && i == 0)
				if wantHeader && (s.client != client || s.edge != edge) {
					t.Errorf("datagram %d header: client %v edge %v, want %v %v", i, s.client, s.edge, client, edge)
				}
				if !wantHeader && s.client.IsValid() {
					t.Errorf("datagram %d carries a header, want none", i)
				}
			}
			// A second edge IP in the prefix is a different flow.
			c2 := udpClient(t, src, netip.AddrPortFrom(otherEdge, port))
			if got, err := udpAsk(t, c2, "other"); err != nil || got != "re:other" {
				t.Fatalf("reply via %v = %q, %v", otherEdge, got, err)
			}
			if got := p.counter(t, "edgesim_proxy_udp_flows_total", "app", "u1"); got != 2 {
				t.Errorf("udp flows = %v, want 2", got)
			}
		})
	}
}

func TestUDPRefusals(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{MaxUDPFlows: 2, UDPIdleTimeout: 300 * time.Millisecond})
	port, other := p.listen(t, UDP), p.listen(t, UDP)
	o, _ := newUDPOrigin(t, false)
	app := udpApp("u1", port, ProxyOff, o)
	app.IPFirewall = true
	p.Store(&Config{Table: table(app), Firewall: Rules([]AccessRule{{Prefix: netip.MustParsePrefix("127.0.0.9/32"), Action: Block}})})
	for _, tt := range []struct {
		src  string
		dst  netip.AddrPort
		want bool
	}{
		{"127.0.0.9", netip.AddrPortFrom(edgeIP, port), false},    // blocked
		{"127.0.0.10", netip.AddrPortFrom(edgeIP, other), false},  // no app
		{"127.0.0.10", netip.AddrPortFrom(unserved, port), false}, // not served
		{"127.0.0.10", netip.AddrPortFrom(edgeIP, port), true},
		{"127.0.0.11", netip.AddrPortFrom(edgeIP, port), true},
		{"127.0.0.12", netip.AddrPortFrom(edgeIP, port), false}, // table full
	} {
		c := udpClient(t, netip.MustParseAddr(tt.src), tt.dst)
		_, err := udpAskWithin(t, c, "x", map[bool]time.Duration{true: 2 * time.Second, false: 300 * time.Millisecond}[tt.want])
		if (err == nil) != tt.want {
			t.Errorf("%s -> %v: err %v, want answered=%v", tt.src, tt.dst, err, tt.want)
		}
	}
	if got := p.counter(t, "edgesim_proxy_refused_total", "reason", "flow_table_full"); got < 1 {
		t.Errorf("flow_table_full = %v", got)
	}
	// Idle flows expire and free the table.
	waitFor(t, func() bool { return p.counter(t, "edgesim_proxy_active_udp_flows") == 0 })
	c := udpClient(t, netip.MustParseAddr("127.0.0.12"), netip.AddrPortFrom(edgeIP, port))
	if got, err := udpAsk(t, c, "y"); err != nil || got != "re:y" {
		t.Errorf("after expiry: %q, %v", got, err)
	}
}

// TestUDPSPPSpoof: a reply whose SPP header names another client is
// dropped.
func TestUDPSPPSpoof(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Options{})
	port := p.listen(t, UDP)
	oc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	go func() {
		b := make([]byte, 2048)
		for {
			n, from, err := oc.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			cl, ed, payload, err := ParseSPP(b[:n])
			if err != nil {
				continue
			}
			reply := make([]byte, SPPLen)
			if string(payload) == "spoof" {
				cl = netip.AddrPortFrom(cl.Addr(), cl.Port()+1)
			}
			PutSPP(reply, cl, ed)
			oc.WriteToUDPAddrPort(append(reply, payload...), from)
		}
	}()
	p.Store(&Config{Table: table(udpApp("u1", port, ProxySimple, oc.LocalAddr().(*net.UDPAddr).AddrPort()))})
	c := udpClient(t, netip.Addr{}, netip.AddrPortFrom(edgeIP, port))
	if got, err := udpAsk(t, c, "ok"); err != nil || got != "ok" {
		t.Fatalf("reply = %q, %v", got, err)
	}
	if got, err := udpAskWithin(t, c, "spoof", 300*time.Millisecond); err == nil {
		t.Errorf("spoofed reply delivered: %q", got)
	}
}
