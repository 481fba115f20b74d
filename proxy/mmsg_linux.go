package proxy

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpHeadroom is room kept before each received datagram for the largest
// header prepended on the way to the origin (PROXY v2 over IPv6: 52 bytes).
const udpHeadroom = 52

// batch is a set of datagram buffers and the recvmmsg/sendmmsg headers
// pointing into them.
type batch struct {
	bufs  [][]byte // udpHeadroom + size each
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	oob   [][64]byte
}

func newBatch(n, size int) *batch {
	b := &batch{
		bufs:  make([][]byte, n),
		msgs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		oob:   make([][64]byte, n),
	}
	mem := make([]byte, n*(udpHeadroom+size))
	for i := range b.bufs {
		b.bufs[i] = mem[i*(udpHeadroom+size) : (i+1)*(udpHeadroom+size) : (i+1)*(udpHeadroom+size)]
	}
	return b
}

// prepRecv points every header at its buffer (after the headroom), name and
// control space, ready for recvmmsg.
func (b *batch) prepRecv(withAddrs bool) {
	for i := range b.msgs {
		buf := b.bufs[i]
		b.iovs[i].Base = &buf[udpHeadroom]
		b.iovs[i].SetLen(len(buf) - udpHeadroom)
		h := &b.msgs[i].Hdr
		*h = unix.Msghdr{Iov: &b.iovs[i]}
		h.SetIovlen(1)
		if withAddrs {
			h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			h.Namelen = unix.SizeofSockaddrInet6
			h.Control = &b.oob[i][0]
			h.SetControllen(len(b.oob[i]))
		}
		b.msgs[i].Len = 0
	}
}

func recvmmsgFd(fd uintptr, msgs []unix.Mmsghdr) (int, syscall.Errno) {
	// Raw: the socket is non-blocking (MSG_DONTWAIT), so skipping the
	// scheduler's entersyscall/exitsyscall (and its sysmon wake-ups) is safe.
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(r), e
}

// recvmmsg reads up to len(msgs) datagrams, waiting for the first.
func recvmmsg(rc syscall.RawConn, msgs []unix.Mmsghdr) (int, error) {
	var (
		n    int
		serr syscall.Errno
	)
	err := rc.Read(func(fd uintptr) bool {
		n, serr = recvmmsgFd(fd, msgs)
		return serr != unix.EAGAIN && serr != unix.EINTR
	})
	if err != nil {
		return 0, err
	}
	if serr != 0 {
		return 0, serr
	}
	return n, nil
}

// sendmmsg writes all msgs, skipping a datagram that fails (e.g. an
// ICMP-reported ECONNREFUSED on a connected socket); it returns the last
// such error, or the RawConn's error (closed socket) at once.
func sendmmsg(rc syscall.RawConn, msgs []unix.Mmsghdr) error {
	var last error
	for len(msgs) > 0 {
		var (
			n    int
			serr syscall.Errno
		)
		err := rc.Write(func(fd uintptr) bool {
			r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
			n, serr = int(r), e
			return e != unix.EAGAIN && e != unix.EINTR
		})
		if err != nil {
			return err
		}
		if serr != 0 {
			last, n = serr, 1
		}
		msgs = msgs[max(n, 1):]
	}
	return last
}

func ntohs(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(p *uint16, v uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(v>>8), byte(v)
}

// sockaddrAddrPort decodes a sockaddr_in or sockaddr_in6 (unmapped).
func sockaddrAddrPort(rsa *unix.RawSockaddrInet6) netip.AddrPort {
	switch rsa.Family {
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(rsa.Addr).Unmap(), ntohs(&rsa.Port))
	case unix.AF_INET:
		r4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(r4.Addr), ntohs(&r4.Port))
	}
	return netip.AddrPort{}
}

// putSockaddr encodes ap for a socket of the given family and returns the
// length.
func putSockaddr(rsa *unix.RawSockaddrInet6, ap netip.AddrPort, v6 bool) uint32 {
	*rsa = unix.RawSockaddrInet6{}
	if v6 {
		rsa.Family = unix.AF_INET6
		htons(&rsa.Port, ap.Port())
		rsa.Addr = ap.Addr().As16()
		return unix.SizeofSockaddrInet6
	}
	r4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
	r4.Family = unix.AF_INET
	htons(&r4.Port, ap.Port())
	r4.Addr = ap.Addr().Unmap().As4()
	return unix.SizeofSockaddrInet4
}

// pktinfoDst returns the destination address from an IP_PKTINFO or
// IPV6_PKTINFO control message.
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	hl := unix.CmsgLen(0)
	for len(oob) >= hl {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hl || l > len(oob) {
			break
		}
		data := oob[hl:l]
		switch {
		case h.Level == unix.SOL_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			return netip.AddrFrom16(pi.Addr).Unmap(), true
		case h.Level == unix.SOL_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			return netip.AddrFrom4(pi.Addr), true
		}
		next := unix.CmsgSpace(l - hl)
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return netip.Addr{}, false
}

// putPktinfo writes a control message that makes a reply leave from src and
// returns its length.
func putPktinfo(oob []byte, src netip.Addr, v6 bool) int {
	clear(oob)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	data := oob[unix.CmsgLen(0):]
	if v6 {
		h.Level, h.Type = unix.SOL_IPV6, unix.IPV6_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
		pi.Addr = src.As16()
		return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	}
	h.Level, h.Type = unix.SOL_IP, unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
	pi.Spec_dst = src.Unmap().As4()
	return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
}

func sockaddrPtr(rsa *unix.RawSockaddrInet6) *byte { return (*byte)(unsafe.Pointer(rsa)) }
