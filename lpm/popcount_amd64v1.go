//go:build amd64 && !amd64.v2

package lpm

// popcount counts the set bits of x without POPCNT. At GOAMD64=v1,
// bits.OnesCount64 checks for POPCNT at run time and falls back to a call;
// the generated code for the lookup loops then spills and reloads registers
// around that call site. This branch-free SWAR count costs a few ALU
// operations and no call. Build with GOAMD64=v2 or later (as the benchmarks
// in bench/RESULTS.md do, with v3) to get the POPCNT instruction.
func popcount(x uint64) uint32 {
	x -= x >> 1 & 0x5555555555555555
	x = x&0x3333333333333333 + x>>2&0x3333333333333333
	x = (x + x>>4) & 0x0f0f0f0f0f0f0f0f
	return uint32(x * 0x0101010101010101 >> 56)
}
