package dnsmap

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rxSize is the receive buffer per datagram. Longer queries arrive cut
// (MSG_TRUNC) and get FORMERR.
const rxSize = 4096

// udpBatch is one worker's recvmmsg/sendmmsg state. Everything the kernel
// reads or writes lives here and is reused for every batch, so the loop
// allocates nothing per datagram. x/sys/unix v0.50.0 has the Mmsghdr type
// but no Recvmmsg/Sendmmsg wrappers, so the calls are raw syscalls, made
// inside RawConn.Read/Write so Go's poller does the waiting.
type udpBatch struct {
	rx    []unix.Mmsghdr
	rxIov []unix.Iovec
	rxBuf []byte
	names []unix.RawSockaddrInet6
	ctl   []byte // per slot: room for an IP_PKTINFO/IPV6_PKTINFO control message
	ctlSz int
	tx    []unix.Mmsghdr
	txIov []unix.Iovec
	txBuf []byte
	txSz  int
	src   []int // rx slot of each tx slot
	pkt   bool  // reply from the query's destination address (wildcard-bound socket)

	n, sent, from int
	err           syscall.Errno
	recvFn        func(fd uintptr) bool
	sendFn        func(fd uintptr) bool
}

func newUDPBatch(n, txSize int, pktinfo bool) *udpBatch {
	u := &udpBatch{
		rx: make([]unix.Mmsghdr, n), rxIov: make([]unix.Iovec, n), rxBuf: make([]byte, n*rxSize),
		names: make([]unix.RawSockaddrInet6, n),
		tx:    make([]unix.Mmsghdr, n), txIov: make([]unix.Iovec, n), txBuf: make([]byte, n*txSize),
		txSz: txSize, src: make([]int, n), pkt: pktinfo,
	}
	if pktinfo {
		u.ctlSz = unix.CmsgSpace(unix.SizeofInet6Pktinfo)
		u.ctl = make([]byte, n*u.ctlSz)
	}
	for i := range n {
		u.rxIov[i].Base = &u.rxBuf[i*rxSize]
		u.rxIov[i].SetLen(rxSize)
		h := &u.rx[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&u.names[i]))
		h.Iov = &u.rxIov[i]
		h.Iovlen = 1
		if pktinfo {
			h.Control = &u.ctl[i*u.ctlSz]
		}
		u.txIov[i].Base = &u.txBuf[i*txSize]
		u.tx[i].Hdr.Iov = &u.txIov[i]
		u.tx[i].Hdr.Iovlen = 1
	}
	u.recvFn = u.recv
	u.sendFn = u.send
	return u
}

func (u *udpBatch) recv(fd uintptr) bool {
	for i := range u.rx {
		h := &u.rx[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.Flags = 0
		if u.pkt {
			h.SetControllen(u.ctlSz)
		}
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&u.rx[0])), uintptr(len(u.rx)),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			u.n, u.err = int(r), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			u.n, u.err = 0, e
			return true
		}
	}
}

func (u *udpBatch) send(fd uintptr) bool {
	for u.from < u.sent {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&u.tx[u.from])), uintptr(u.sent-u.from),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			u.from += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			u.from++ // the first message failed (e.g. an unroutable source); skip it
		}
	}
	return true
}

// udpWorker runs one batch loop on conn until the server stops.
func (s *Server) udpWorker(ctx context.Context, conn *net.UDPConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("getting udp socket of %q: %w", conn.LocalAddr().String(), err)
	}
	pktinfo := false
	if la, ok := conn.LocalAddr().(*net.UDPAddr); ok && la.IP.IsUnspecified() {
		pktinfo = true
		var serr error
		rc.Control(func(fd uintptr) {
			// Best effort per family: a v4-only socket refuses the v6 option.
			e4 := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
			e6 := unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
			if e4 != nil && e6 != nil {
				serr = e4
			}
		})
		if serr != nil {
			return fmt.Errorf("setting IP_PKTINFO on %q: %w", conn.LocalAddr().String(), serr)
		}
	}
	u := newUDPBatch(s.opts.Batch, s.opts.UDPSize, pktinfo)
	var t tally
	for {
		if err := rc.Read(u.recvFn); err != nil {
			if s.stopping(ctx) {
				return nil
			}
			return fmt.Errorf("reading udp on %q: %w", conn.LocalAddr().String(), err)
		}
		if u.err != 0 {
			if s.stopping(ctx) {
				return nil
			}
			if u.err == unix.ECONNREFUSED || u.err == unix.EHOSTUNREACH || u.err == unix.ENOBUFS {
				continue // ICMP feedback from an earlier reply; not ours to handle
			}
			return fmt.Errorf("reading udp on %q: %w", conn.LocalAddr().String(), u.err)
		}
		b := s.cur.Load()
		t.reset(len(b.set.zones))
		u.sent = 0
		for i := 0; i < u.n; i++ {
			rh := &u.rx[i]
			q := u.rxBuf[i*rxSize : i*rxSize+int(rh.Len)]
			if rh.Hdr.Flags&unix.MSG_TRUNC != 0 && len(q) >= 12 {
				q = q[:12:12] // cut: answer FORMERR from the header alone
				q[5], q[4] = 0, 0
			}
			j := u.sent
			out, res := b.set.respond(u.txBuf[j*u.txSz:j*u.txSz:(j+1)*u.txSz], q, false, s.opts.UDPSize)
			t.add(res)
			if res.rcode < 0 || len(out) == 0 || &out[0] != &u.txBuf[j*u.txSz] {
				continue // dropped (or, never, larger than the slot)
			}
			th := &u.tx[j].Hdr
			th.Name = rh.Hdr.Name
			th.Namelen = rh.Hdr.Namelen
			u.txIov[j].SetLen(len(out))
			if u.pkt {
				th.Control = rh.Hdr.Control
				th.Controllen = rh.Hdr.Controllen
				clearIfindex(u.ctl[i*u.ctlSz:(i+1)*u.ctlSz], int(rh.Hdr.Controllen))
			}
			u.sent++
		}
		if u.sent > 0 {
			u.from = 0
			if err := rc.Write(u.sendFn); err != nil {
				if s.stopping(ctx) {
					return nil
				}
				return fmt.Errorf("writing udp on %q: %w", conn.LocalAddr().String(), err)
			}
		}
		t.flush(s.m, b, protoUDP)
	}
}

// clearIfindex zeroes the interface index of a received IPv4 IP_PKTINFO so
// that sending it back picks the source address (ipi_spec_dst) and lets
// routing choose the interface. IPv6 pktinfo is sent back as received.
func clearIfindex(ctl []byte, n int) {
	if n < unix.SizeofCmsghdr+unix.SizeofInet4Pktinfo || n > len(ctl) {
		return
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
	if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO {
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&ctl[unix.CmsgLen(0)]))
		pi.Ifindex = 0
	}
}
