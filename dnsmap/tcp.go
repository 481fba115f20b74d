package dnsmap

import (
	"context"
	"encoding/binary"
	"net"
	"time"
)

// serveConn answers the length-prefixed queries on one TCP connection
// (RFC 7766): everything readable is parsed, every complete query in it is
// answered in order, and the answers go out in one write. There is no
// per-connection query limit; a connection ends on EOF, an error, the idle
// timeout, or shutdown.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	rb := make([]byte, 0, 16<<10)
	wb := make([]byte, 0, 16<<10)
	var t tally
	for {
		if s.stopping(ctx) {
			return
		}
		c.SetReadDeadline(time.Now().Add(s.opts.TCPIdleTimeout))
		if len(rb) == cap(rb) { // a message longer than the buffer
			rb = append(rb[:cap(rb)], make([]byte, cap(rb))...)[:len(rb)]
		}
		n, err := c.Read(rb[len(rb):cap(rb)])
		rb = rb[:len(rb)+n]
		if n > 0 {
			b := s.cur.Load()
			t.reset(len(b.set.zones))
			off := 0
			for len(rb)-off >= 2 {
				l := int(binary.BigEndian.Uint16(rb[off:]))
				if len(rb)-off-2 < l {
					if 2+l > cap(rb) {
						nb := make([]byte, len(rb)-off, 2+l)
						copy(nb, rb[off:])
						rb, off = nb, 0
					}
					break
				}
				msg := rb[off+2 : off+2+l]
				off += 2 + l
				if cap(wb)-len(wb) < 2+0xffff {
					nw := make([]byte, len(wb), 2*cap(wb)+2+0xffff)
					copy(nw, wb)
					wb = nw
				}
				at := len(wb)
				out, res := b.set.respond(wb[:at+2], msg, true, s.opts.UDPSize)
				t.add(res)
				if res.rcode < 0 {
					continue
				}
				binary.BigEndian.PutUint16(out[at:], uint16(len(out)-at-2))
				wb = out
			}
			rb = rb[:copy(rb, rb[off:])]
			if len(wb) > 0 {
				c.SetWriteDeadline(time.Now().Add(s.opts.TCPIdleTimeout))
				_, werr := c.Write(wb)
				wb = wb[:0]
				t.flush(s.m, b, protoTCP)
				if werr != nil {
					s.log.Debug("writing tcp answers", "remote_addr", c.RemoteAddr().String(), "err", werr)
					return
				}
			} else {
				t.flush(s.m, b, protoTCP)
			}
		}
		if err != nil {
			s.log.Debug("closing tcp connection", "remote_addr", c.RemoteAddr().String(), "err", err)
			return
		}
	}
}
