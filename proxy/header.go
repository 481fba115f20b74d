package proxy

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
)

// v2Sig is the PROXY protocol v2 signature.
var v2Sig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// MaxProxyHeaderLen bounds what AppendProxyHeader appends (v1 worst case is
// 107 bytes, v2 with IPv6 52).
const MaxProxyHeaderLen = 108

// AppendProxyHeader appends a PROXY protocol header (version V1 or V2) for
// a connection from client to the edge address to dst and returns it. Both
// addresses are unmapped; if one is IPv4 and the other IPv6, the IPv4 one is
// written v4-mapped in an IPv6 header. V1 is defined for TCP only; for UDP
// it falls back to V2. Other versions append nothing.
func AppendProxyHeader(dst []byte, v ProxyProtocol, t Transport, client, edge netip.AddrPort) []byte {
	ca, ea := client.Addr().Unmap(), edge.Addr().Unmap()
	v4 := ca.Is4() && ea.Is4()
	if !v4 {
		ca, ea = netip.AddrFrom16(ca.As16()), netip.AddrFrom16(ea.As16())
	}
	if v == ProxyV1 && t == UDP {
		v = ProxyV2
	}
	switch v {
	case ProxyV1:
		dst = append(dst, "PROXY TCP4 "...)
		if !v4 {
			dst[len(dst)-2] = '6'
		}
		dst = ca.AppendTo(dst)
		dst = append(dst, ' ')
		dst = ea.AppendTo(dst)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(client.Port()), 10)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(edge.Port()), 10)
		return append(dst, '\r', '\n')
	case ProxyV2:
		dst = append(dst, v2Sig[:]...)
		fam := byte(0x10) // AF_INET
		if !v4 {
			fam = 0x20
		}
		if t == UDP {
			fam |= 0x2
		} else {
			fam |= 0x1
		}
		dst = append(dst, 0x21, fam) // version 2, PROXY command
		if v4 {
			dst = binary.BigEndian.AppendUint16(dst, 12)
			a, b := ca.As4(), ea.As4()
			dst = append(dst, a[:]...)
			dst = append(dst, b[:]...)
		} else {
			dst = binary.BigEndian.AppendUint16(dst, 36)
			a, b := ca.As16(), ea.As16()
			dst = append(dst, a[:]...)
			dst = append(dst, b[:]...)
		}
		dst = binary.BigEndian.AppendUint16(dst, client.Port())
		return binary.BigEndian.AppendUint16(dst, edge.Port())
	}
	return dst
}

// SPPLen is the length of a Simple Proxy Protocol header.
const SPPLen = 38

// SPPMagic starts every Simple Proxy Protocol header.
const SPPMagic = 0x56EC

// ErrNotSPP is returned by ParseSPP for a datagram without a valid header.
var ErrNotSPP = errors.New("proxy: not a simple proxy protocol datagram")

// PutSPP writes a Simple Proxy Protocol header into b[:SPPLen]: magic, the
// client address and the proxy (edge) address as 16 bytes each (IPv4
// v4-mapped), then client port and proxy port, all in network order.
func PutSPP(b []byte, client, proxy netip.AddrPort) {
	_ = b[SPPLen-1]
	binary.BigEndian.PutUint16(b[0:], SPPMagic)
	c, p := client.Addr().As16(), proxy.Addr().As16()
	copy(b[2:18], c[:])
	copy(b[18:34], p[:])
	binary.BigEndian.PutUint16(b[34:], client.Port())
	binary.BigEndian.PutUint16(b[36:], proxy.Port())
}

// ParseSPP decodes a Simple Proxy Protocol datagram: the client and proxy
// addresses (unmapped) and the payload, which aliases b.
func ParseSPP(b []byte) (client, proxy netip.AddrPort, payload []byte, err error) {
	if len(b) < SPPLen || binary.BigEndian.Uint16(b) != SPPMagic {
		return netip.AddrPort{}, netip.AddrPort{}, nil, ErrNotSPP
	}
	c := netip.AddrFrom16([16]byte(b[2:18])).Unmap()
	p := netip.AddrFrom16([16]byte(b[18:34])).Unmap()
	client = netip.AddrPortFrom(c, binary.BigEndian.Uint16(b[34:]))
	proxy = netip.AddrPortFrom(p, binary.BigEndian.Uint16(b[36:]))
	return client, proxy, b[SPPLen:], nil
}
