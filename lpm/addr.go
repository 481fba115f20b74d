package lpm

import (
	"encoding/binary"
	"net/netip"
	"unsafe"
)

// Converting a netip.Addr through As4/As16 stores the bytes to the stack
// and loads them back with a different width. The CPU cannot forward such
// a store to the load, so the load waits until the store retires, which
// waits for the previous lookup's cache misses: every lookup would then pay
// the full memory latency instead of overlapping with its neighbours
// (measured: 3-10x slower cold lookups). netip.Addr keeps its 128 bits as
// two native uint64 words (hi, lo) at the start of the struct; reading them
// directly avoids the round trip. fastWords checks that layout once at
// start-up against As16, and words falls back to As16 if it ever changes.
var fastWords = checkAddrLayout()

func checkAddrLayout() bool {
	if unsafe.Sizeof(netip.Addr{}) < 16 {
		return false
	}
	for _, s := range []string{"192.0.2.1", "255.255.255.255", "2001:db8::1", "::ffff:192.0.2.1",
		"fe80::1:2:3:4%eth0", "::", "8000::1", "0.0.0.0"} {
		a := netip.MustParseAddr(s)
		hi, lo := slowWords(a)
		w := (*[2]uint64)(unsafe.Pointer(&a))
		if w[0] != hi || w[1] != lo {
			return false
		}
	}
	return true
}

// words returns a as two big-endian 64-bit halves. An IPv4 address comes
// back in its IPv4-mapped form: hi == 0, lo == 0xffff<<32 | address.
func words(a netip.Addr) (hi, lo uint64) {
	if fastWords {
		w := (*[2]uint64)(unsafe.Pointer(&a))
		return w[0], w[1]
	}
	return slowWords(a)
}

func slowWords(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}
