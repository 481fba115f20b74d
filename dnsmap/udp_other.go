//go:build !linux

package dnsmap

import (
	"context"
	"fmt"
	"net"
)

// udpWorker is the portable loop: one datagram per read and write.
func (s *Server) udpWorker(ctx context.Context, conn *net.UDPConn) error {
	rx := make([]byte, 4096)
	tx := make([]byte, 0, s.opts.UDPSize)
	var t tally
	for {
		n, addr, err := conn.ReadFromUDPAddrPort(rx)
		if err != nil {
			if s.stopping(ctx) {
				return nil
			}
			return fmt.Errorf("reading udp on %q: %w", conn.LocalAddr().String(), err)
		}
		b := s.cur.Load()
		t.reset(len(b.set.zones))
		out, res := b.set.respond(tx[:0], rx[:n], false, s.opts.UDPSize)
		t.add(res)
		if res.rcode >= 0 {
			conn.WriteToUDPAddrPort(out, addr)
		}
		t.flush(s.m, b, protoUDP)
	}
}
