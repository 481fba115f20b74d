package registry

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ReverseZones returns the reverse DNS zones that together cover p, in
// address order, as fully qualified names. A prefix on an octet (IPv4) or
// nibble (IPv6) boundary has one zone; otherwise p is split into the
// 2^(next boundary - p.Bits()) zones at the next boundary, as Cloudflare's
// BYOIP docs require for cf-validation TXT records:
//
//	192.0.2.0/24  -> 2.0.192.in-addr.arpa.
//	127.0.0.0/23  -> 0.0.127.in-addr.arpa., 1.0.127.in-addr.arpa.
//	2001:db8::/34 -> 0.8.b.d.0.1.0.0.2.ip6.arpa. ... 3.8.b.d.0.1.0.0.2.ip6.arpa.
//
// Host bits are ignored. It returns nil for an invalid or IPv4-mapped prefix.
func ReverseZones(p netip.Prefix) []string {
	if !p.IsValid() || p.Addr().Is4In6() {
		return nil
	}
	p = p.Masked()
	bits := p.Bits()
	unit := 8 // bits per label
	if p.Addr().Is6() {
		unit = 4
	}
	boundary := (bits + unit - 1) / unit * unit
	labels := boundary / unit
	n := 1 << (boundary - bits) // at most 2^7
	raw := p.Addr().AsSlice()
	zones := make([]string, 0, n)
	for i := range n {
		var sb strings.Builder
		for l := labels - 1; l >= 0; l-- {
			v := labelValue(raw, l, unit)
			if l == labels-1 {
				// The split bits are the low bits of the last label,
				// and they are zero in a masked prefix.
				v |= i
			}
			if unit == 8 {
				sb.WriteString(strconv.Itoa(v))
			} else {
				fmt.Fprintf(&sb, "%x", v)
			}
			sb.WriteByte('.')
		}
		if unit == 8 {
			sb.WriteString("in-addr.arpa.")
		} else {
			sb.WriteString("ip6.arpa.")
		}
		zones = append(zones, sb.String())
	}
	return zones
}

// labelValue returns octet l (unit 8) or nibble l (unit 4) of raw.
func labelValue(raw []byte, l, unit int) int {
	if unit == 8 {
		return int(raw[l])
	}
	b := raw[l/2]
	if l%2 == 0 {
		return int(b >> 4)
	}
	return int(b & 0x0f)
}
