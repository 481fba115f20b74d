//go:build !linux

package lpm

// threadCPU is not available here; the cpu-ns/lookup metric is omitted.
func threadCPU() int64 { return 0 }
