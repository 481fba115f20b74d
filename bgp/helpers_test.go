package bgp

import (
	api "github.com/osrg/gobgp/v3/api"
	"io"
	"log/slog"
	"net/netip"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// synthRoutes returns n /27s from 100.64.0.0/10 (RFC 6598 shared address
// space, 131072 /27s), announced only to peers inside test namespaces or
// on loopback.
func synthRoutes(n int, a Attrs) []Route {
	out := make([]Route, n)
	for i := range n {
		v := uint32(100)<<24 | uint32(64)<<16 + uint32(i)<<5
		b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		out[i] = Route{Prefix: netip.PrefixFrom(netip.AddrFrom4(b), 27), Attrs: a}
	}
	return out
}

type apiAddPathRequest = api.AddPathRequest

const apiGlobal = api.TableType_GLOBAL
