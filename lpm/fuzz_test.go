package lpm

import (
	"errors"
	"net/netip"
	"testing"
)

// decodeRoutes turns fuzz input into canonical routes: per route a header
// byte (bit 7: IPv6; the rest: the length, reduced modulo 33 or 129), then
// 4 or 16 address bytes (zero-padded at the end of the input). Host bits
// are cleared. Duplicates and IPv4-mapped prefixes are kept: Build must
// reject them.
func decodeRoutes(data []byte) (routes []refRoute, dups, mapped bool) {
	seen := map[netip.Prefix]bool{}
	for len(data) > 0 && len(routes) < 256 {
		h := data[0]
		data = data[1:]
		n, maxBits := 4, 33
		if h&0x80 != 0 {
			n, maxBits = 16, 129
		}
		var b [16]byte
		copy(b[:n], data)
		data = data[min(n, len(data)):]
		a := netip.AddrFrom4([4]byte(b[:4]))
		if n == 16 {
			a = netip.AddrFrom16(b)
		}
		p := netip.PrefixFrom(a, int(h&0x7f)%maxBits).Masked()
		if seen[p] {
			dups = true
		}
		if p.Addr().Is4In6() {
			mapped = true
		}
		seen[p] = true
		routes = append(routes, refRoute{p, len(routes)})
	}
	return routes, dups, mapped
}

// decodeAddrs turns fuzz input into addresses: a family byte, then 4 or 16
// bytes.
func decodeAddrs(data []byte) []netip.Addr {
	var out []netip.Addr
	for len(data) > 0 {
		h := data[0]
		data = data[1:]
		var b [16]byte
		switch h % 3 {
		case 0:
			copy(b[:4], data)
			data = data[min(4, len(data)):]
			out = append(out, netip.AddrFrom4([4]byte(b[:4])))
		case 1:
			copy(b[:], data)
			data = data[min(16, len(data)):]
			out = append(out, netip.AddrFrom16(b))
		default: // IPv4-mapped
			copy(b[12:], data)
			data = data[min(4, len(data)):]
			b[10], b[11] = 0xff, 0xff
			out = append(out, netip.AddrFrom16(b))
		}
	}
	return out
}

func FuzzLookup(f *testing.F) {
	f.Add([]byte{24, 192, 0, 2, 0, 25, 192, 0, 2, 128, 0}, []byte{0, 192, 0, 2, 200, 2, 192, 0, 2, 1})
	f.Add([]byte{0x80 | 32, 0x20, 0x01, 0x0d, 0xb8, 0x80 | 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1}, []byte{1, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x80, 0, 32, 1, 2, 3, 4}, []byte{0, 1, 2, 3, 4, 1, 0xff})
	f.Add([]byte{24, 192, 0, 2, 0, 24, 192, 0, 2, 7}, []byte{}) // duplicate after masking
	f.Fuzz(func(t *testing.T, routeData, addrData []byte) {
		routes, dups, mapped := decodeRoutes(routeData)
		tbl, err := Build(routeSeq(routes))
		if dups || mapped {
			if err == nil {
				t.Fatalf("Build(%v) succeeded, want an error (duplicates %v, mapped %v)", routes, dups, mapped)
			}
			if dups && !errors.Is(err, ErrDuplicatePrefix) || mapped && !errors.Is(err, ErrInvalidPrefix) {
				t.Fatalf("Build(%v) error %v, want duplicate %v / invalid %v", routes, err, dups, mapped)
			}
			return
		}
		if err != nil {
			t.Fatalf("Build(%v): %v", routes, err)
		}
		addrs := decodeAddrs(addrData)
		for _, e := range routes {
			addrs = append(addrs, e.p.Addr(), lastAddr(e.p))
			addrs = append(addrs, neighbours(e.p)...)
		}
		checkTable(t, tbl, newLinearRef(routes).lookup, addrs)
		checkAll(t, tbl, routes)
	})
}
