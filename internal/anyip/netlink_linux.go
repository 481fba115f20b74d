package anyip

// The rtnetlink messages a Table sends and the replies it reads. Encoding
// and decoding are pure functions of bytes, tested and fuzzed without root.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

var ne = binary.NativeEndian // netlink uses the host's byte order

func align4(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// header appends an nlmsghdr whose length is patched by finish.
func header(b []byte, typ, flags uint16, seq uint32) []byte {
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, flags)
	b = ne.AppendUint32(b, seq)
	return ne.AppendUint32(b, 0) // port ID: the kernel fills it in
}

// attr appends one rtattr, padded to 4 bytes.
func attr(b []byte, typ uint16, data []byte) []byte {
	b = ne.AppendUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	b = ne.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// finish writes the message length into the header.
func finish(b []byte) []byte {
	ne.PutUint32(b[0:4], uint32(len(b)))
	return b
}

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// routeRequest encodes an RTM_NEWROUTE or RTM_DELROUTE for the local route
// to p in table local, tagged with Proto, on interface oif (0: any, for
// deletes).
func routeRequest(typ, flags uint16, seq uint32, p netip.Prefix, oif uint32) []byte {
	b := header(make([]byte, 0, 64), typ, flags, seq)
	b = append(b,
		family(p.Addr()),    // rtm_family
		uint8(p.Bits()),     // rtm_dst_len
		0,                   // rtm_src_len
		0,                   // rtm_tos
		unix.RT_TABLE_LOCAL, // rtm_table
		Proto,               // rtm_protocol
		unix.RT_SCOPE_HOST,  // rtm_scope
		unix.RTN_LOCAL,      // rtm_type
		0, 0, 0, 0,          // rtm_flags
	)
	b = attr(b, unix.RTA_DST, p.Addr().AsSlice())
	b = attr(b, unix.RTA_TABLE, ne.AppendUint32(nil, unix.RT_TABLE_LOCAL))
	if oif != 0 {
		b = attr(b, unix.RTA_OIF, ne.AppendUint32(nil, oif))
	}
	return finish(b)
}

// routeDumpRequest encodes an RTM_GETROUTE dump of one address family. The
// kernel may return every table; the caller filters.
func routeDumpRequest(seq uint32, fam uint8) []byte {
	b := header(make([]byte, 0, 32), unix.RTM_GETROUTE, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq)
	b = append(b, fam, 0, 0, 0, unix.RT_TABLE_LOCAL, 0, 0, 0, 0, 0, 0, 0)
	return finish(b)
}

// linkDumpRequest encodes an RTM_GETLINK dump of every interface.
func linkDumpRequest(seq uint32) []byte {
	b := header(make([]byte, 0, 32), unix.RTM_GETLINK, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq)
	b = append(b, make([]byte, unix.SizeofIfInfomsg)...)
	return finish(b)
}

// message is one netlink message of a reply; data aliases the datagram.
type message struct {
	typ, flags uint16
	seq, pid   uint32
	data       []byte // the payload after the header
}

var errMalformed = errors.New("anyip: malformed netlink message")

// parseMessages splits a datagram into its messages.
func parseMessages(b []byte) ([]message, error) {
	var out []message
	for len(b) > 0 {
		if len(b) < unix.SizeofNlMsghdr {
			return out, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(b))
		}
		n := int(ne.Uint32(b[0:4]))
		if n < unix.SizeofNlMsghdr || n > len(b) {
			return out, fmt.Errorf("%w: length %d with %d bytes left", errMalformed, n, len(b))
		}
		out = append(out, message{
			typ:   ne.Uint16(b[4:6]),
			flags: ne.Uint16(b[6:8]),
			seq:   ne.Uint32(b[8:12]),
			pid:   ne.Uint32(b[12:16]),
			data:  b[unix.SizeofNlMsghdr:n],
		})
		b = b[min(align4(n), len(b)):]
	}
	return out, nil
}

// rtattr is one route or link attribute; data aliases the message.
type rtattr struct {
	typ  uint16
	data []byte
}

// parseAttrs splits a run of rtattrs.
func parseAttrs(b []byte) ([]rtattr, error) {
	var out []rtattr
	for len(b) > 0 {
		if len(b) < unix.SizeofRtAttr {
			return out, fmt.Errorf("%w: %d trailing attribute bytes", errMalformed, len(b))
		}
		n := int(ne.Uint16(b[0:2]))
		if n < unix.SizeofRtAttr || n > len(b) {
			return out, fmt.Errorf("%w: attribute length %d with %d bytes left", errMalformed, n, len(b))
		}
		out = append(out, rtattr{typ: ne.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER), data: b[unix.SizeofRtAttr:n]})
		b = b[min(align4(n), len(b)):]
	}
	return out, nil
}

// kernelError is a request the kernel refused: its errno and, when the
// kernel said more (extended ACK), its message.
type kernelError struct {
	errno unix.Errno
	msg   string
}

func (e *kernelError) Error() string {
	name := unix.ErrnoName(e.errno)
	if name == "" {
		name = fmt.Sprintf("errno %d", uintptr(e.errno))
	}
	s := e.errno.Error() + " (" + name + ")"
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

func (e *kernelError) Unwrap() error { return e.errno }

// parseError decodes the payload of an NLMSG_ERROR (or NLMSG_DONE, whose
// payload starts with the same int): nil for an ACK, else a *kernelError.
func parseError(m message) error {
	if len(m.data) < 4 {
		return fmt.Errorf("%w: %d-byte error message", errMalformed, len(m.data))
	}
	code := int32(ne.Uint32(m.data[0:4]))
	if code == 0 {
		return nil
	}
	e := &kernelError{errno: unix.Errno(-int64(code))}
	if code > 0 {
		e.errno = unix.Errno(code)
	}
	if m.flags&unix.NLM_F_ACK_TLVS == 0 || m.typ != unix.NLMSG_ERROR {
		return e
	}
	// The request's header follows, then its payload unless capped, then
	// the extended-ACK attributes.
	off := 4 + unix.SizeofNlMsghdr
	if len(m.data) < off {
		return e
	}
	if m.flags&unix.NLM_F_CAPPED == 0 {
		off = 4 + align4(int(ne.Uint32(m.data[4:8])))
		if off < 4+unix.SizeofNlMsghdr || off > len(m.data) {
			return e
		}
	}
	attrs, _ := parseAttrs(m.data[off:]) // best effort: the errno is what counts
	for _, a := range attrs {
		if a.typ == unix.NLMSGERR_ATTR_MSG {
			e.msg = strings.TrimRight(string(a.data), "\x00")
		}
	}
	return e
}

// route is one route of a dump, as far as a Table cares.
type route struct {
	prefix   netip.Prefix
	table    uint32
	protocol uint8
	typ      uint8
	oif      uint32
}

// owned reports whether r is a route a Table owns: a local route in table
// local tagged with Proto.
func (r route) owned() bool {
	return r.table == unix.RT_TABLE_LOCAL && r.typ == unix.RTN_LOCAL && r.protocol == Proto
}

// parseRoute decodes the payload of an RTM_NEWROUTE. ok is false for
// families other than IPv4 and IPv6.
func parseRoute(b []byte) (r route, ok bool, err error) {
	if len(b) < unix.SizeofRtMsg {
		return route{}, false, fmt.Errorf("%w: %d-byte route message", errMalformed, len(b))
	}
	fam, dstLen := b[0], int(b[1])
	r = route{table: uint32(b[4]), protocol: b[5], typ: b[7]}
	var addr netip.Addr
	switch fam {
	case unix.AF_INET:
		addr = netip.IPv4Unspecified()
	case unix.AF_INET6:
		addr = netip.IPv6Unspecified()
	default:
		return route{}, false, nil
	}
	attrs, err := parseAttrs(b[unix.SizeofRtMsg:])
	if err != nil {
		return route{}, false, err
	}
	for _, a := range attrs {
		switch a.typ {
		case unix.RTA_DST:
			v, ok := netip.AddrFromSlice(a.data)
			if !ok || v.BitLen() != addr.BitLen() {
				return route{}, false, fmt.Errorf("%w: %d-byte destination in a family %d route", errMalformed, len(a.data), fam)
			}
			addr = v
		case unix.RTA_TABLE:
			if len(a.data) == 4 {
				r.table = ne.Uint32(a.data)
			}
		case unix.RTA_OIF:
			if len(a.data) == 4 {
				r.oif = ne.Uint32(a.data)
			}
		}
	}
	if dstLen > addr.BitLen() {
		return route{}, false, fmt.Errorf("%w: /%d destination in a family %d route", errMalformed, dstLen, fam)
	}
	r.prefix = netip.PrefixFrom(addr, dstLen)
	return r, true, nil
}

// parseLink decodes the interface index and flags of an RTM_NEWLINK.
func parseLink(b []byte) (index uint32, flags uint32, err error) {
	if len(b) < unix.SizeofIfInfomsg {
		return 0, 0, fmt.Errorf("%w: %d-byte link message", errMalformed, len(b))
	}
	return ne.Uint32(b[4:8]), ne.Uint32(b[8:12]), nil
}
