package proxy

import (
	"bufio"
	"bytes"
	"net/netip"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
)

// FuzzSPP decodes arbitrary datagrams: a valid header re-encodes to the
// same 38 bytes and leaves the payload untouched.
func FuzzSPP(f *testing.F) {
	hdr := make([]byte, SPPLen)
	PutSPP(hdr, netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("203.0.113.5:53"))
	f.Add(append(hdr, "payload"...))
	PutSPP(hdr, netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8:100::5]:65535"))
	f.Add(hdr)
	f.Add([]byte{0x56, 0xEC})
	f.Fuzz(func(t *testing.T, b []byte) {
		client, proxy, payload, err := ParseSPP(b)
		if err != nil {
			if len(b) >= SPPLen && b[0] == 0x56 && b[1] == 0xEC {
				t.Fatalf("valid magic rejected: %v", err)
			}
			return
		}
		re := make([]byte, SPPLen)
		PutSPP(re, client, proxy)
		if !bytes.Equal(re, b[:SPPLen]) {
			t.Fatalf("re-encoded %x, want %x", re, b[:SPPLen])
		}
		if !bytes.Equal(payload, b[SPPLen:]) {
			t.Fatalf("payload %x, want %x", payload, b[SPPLen:])
		}
	})
}

// FuzzProxyHeader builds PROXY v1/v2 headers with AppendProxyHeader and
// parses them with go-proxyproto, an independent implementation.
func FuzzProxyHeader(f *testing.F) {
	v4 := func(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
	v6 := func(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }
	f.Add(byte(1), false, v4("192.0.2.1"), v4("203.0.113.5"), uint16(40000), uint16(443))
	f.Add(byte(2), false, v6("2001:db8::1"), v6("2001:db8:100::5"), uint16(1), uint16(65535))
	f.Add(byte(2), true, v4("192.0.2.1"), v6("2001:db8:100::5"), uint16(0), uint16(53))
	f.Add(byte(1), false, v6("::ffff:192.0.2.1"), v4("203.0.113.5"), uint16(22), uint16(22))
	f.Fuzz(func(t *testing.T, ver byte, udp bool, ca, ea []byte, cport, eport uint16) {
		c, ok1 := netip.AddrFromSlice(ca)
		e, ok2 := netip.AddrFromSlice(ea)
		if !ok1 || !ok2 {
			return
		}
		pp, tr := ProxyV1, TCP
		if ver%2 == 0 {
			pp = ProxyV2
		}
		if udp {
			tr = UDP
		}
		client, edge := netip.AddrPortFrom(c, cport), netip.AddrPortFrom(e, eport)
		b := AppendProxyHeader(nil, pp, tr, client, edge)
		if len(b) > MaxProxyHeaderLen {
			t.Fatalf("header of %d bytes > MaxProxyHeaderLen", len(b))
		}
		h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(append(b, "tail"...))))
		if err != nil {
			t.Fatalf("go-proxyproto rejects %q: %v", b, err)
		}
		wantVer := byte(pp)
		if tr == UDP {
			wantVer = 2 // v1 has no UDP
		}
		if h.Version != wantVer || h.Command != proxyproto.PROXY {
			t.Fatalf("version %d command %v, want %d PROXY", h.Version, h.Command, wantVer)
		}
		if h.TransportProtocol.IsDatagram() != (tr == UDP) {
			t.Fatalf("transport %v for %v", h.TransportProtocol, tr)
		}
		wantV4 := c.Unmap().Is4() && e.Unmap().Is4()
		if h.TransportProtocol.IsIPv4() != wantV4 {
			t.Fatalf("family %v, want ipv4=%v", h.TransportProtocol, wantV4)
		}
		src, dst, ok := h.IPs()
		sp, dp, _ := h.Ports()
		gs, _ := netip.AddrFromSlice(src)
		gd, _ := netip.AddrFromSlice(dst)
		if !ok || gs.Unmap() != c.Unmap() || gd.Unmap() != e.Unmap() || sp != int(cport) || dp != int(eport) {
			t.Fatalf("parsed %v:%d -> %v:%d, want %v -> %v", gs, sp, gd, dp, client, edge)
		}
	})
}
