//go:build !amd64 || amd64.v2

package lpm

import "math/bits"

// popcount is bits.OnesCount64, a single instruction here.
func popcount(x uint64) uint32 { return uint32(bits.OnesCount64(x)) }
