package dnsmap

import (
	"encoding/binary"
)

// DefaultUDPSize is the EDNS UDP payload size the server advertises and
// the most it sends over UDP (DNS flag day 2020).
const DefaultUDPSize = 1232

// Response codes beyond the 4-bit header field.
const (
	rcodeNoError  = 0
	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNXDomain = 3
	rcodeNotImp   = 4
	rcodeRefused  = 5
	rcodeNotAuth  = 9
	rcodeBadVers  = 16
)

// result says what respond did, for counters.
type result struct {
	rcode     int  // -1: dropped, no response
	zone      int  // index of the zone answered from; -1 for none
	truncated bool // UDP answer did not fit: TC set
}

const (
	typeAXFR = 252
	typeIXFR = 251
	typeANY  = 255
	typeOPT  = 41
)

// query is what respond needs from a parsed query.
type query struct {
	qend    int // end of the question (offset after qclass)
	qlen    int // wire length of the query name
	qtype   uint16
	qclass  uint16
	edns    bool
	do      bool
	version uint8
	size    int // client's EDNS UDP payload size
}

// Respond appends to dst the response to the DNS message query, as the
// server sends it over UDP (tcp false: size-limited, TC when the answer
// does not fit) or TCP, with the default advertised size. It returns dst
// unchanged when the server would send nothing (not a query, or no
// parseable header). Respond does not allocate when dst has room.
func (s *Set) Respond(dst, query []byte, tcp bool) []byte {
	out, _ := s.respond(dst, query, tcp, DefaultUDPSize)
	return out
}

// respond is the whole answer path: parse, look up, copy.
func (s *Set) respond(dst, b []byte, tcp bool, udpMax int) ([]byte, result) {
	res := result{rcode: -1, zone: -1}
	if len(b) < 12 || b[2]&0x80 != 0 { // no header, or a response: never answer
		return dst, res
	}
	var q query
	opcode := (b[2] >> 3) & 0xf
	rc, key, klen := parse(b, &q)
	if rc == rcodeFormErr {
		return formerr(dst, b, &q, &res), res
	}
	if opcode != 0 {
		return header(dst, b, &q, rcodeNotImp, false, &res), res
	}
	if q.edns && q.version != 0 {
		return header(dst, b, &q, rcodeBadVers, false, &res), res
	}
	if q.qclass != 1 && q.qclass != typeANY {
		return header(dst, b, &q, rcodeRefused, false, &res), res
	}
	if q.qtype == 0 {
		return header(dst, b, &q, rcodeNotImp, false, &res), res
	}

	switch q.qtype { // zone transfers are not served (Knot without an ACL)
	case typeAXFR:
		if !tcp {
			return header(dst, b, &q, rcodeNotImp, false, &res), res
		}
		return header(dst, b, &q, rcodeNotAuth, false, &res), res
	case typeIXFR:
		return header(dst, b, &q, rcodeNotAuth, false, &res), res
	}

	// Find the node: the exact name, else the closest encloser.
	var ans *answer
	var n *node
	if s != nil {
		n = s.names[string(key[:klen])]
	}
	if n != nil {
		ans = n.lookup(q.qtype)
	} else if s != nil {
		for off := int(key[0]) + 1; off < klen; off += int(key[off]) + 1 {
			if ce := s.names[string(key[off:klen])]; ce != nil {
				n = ce
				if ce.wild != nil {
					ans = ce.wild.lookup(q.qtype)
				} else {
					ans = ce.nx
				}
				break
			}
		}
	}
	if n == nil {
		return header(dst, b, &q, rcodeRefused, false, &res), res
	}
	res.zone = n.zone.idx
	return write(dst, b, &q, ans, tcp, udpMax, &res), res
}

// lookup returns the precomputed answer to qtype at n.
func (n *node) lookup(qtype uint16) *answer {
	for i, t := range n.types {
		if t == qtype {
			return n.ans[i]
		}
	}
	if qtype == typeANY {
		return n.anyA
	}
	return n.other
}

// parse reads the question into a lowercase key and checks the rest of
// the message, including one OPT record. It returns rcodeFormErr for
// malformed messages (q.qend is 0 when the question itself is broken).
func parse(b []byte, q *query) (rcode int, key [256]byte, klen int) {
	qd := binary.BigEndian.Uint16(b[4:])
	if qd != 1 {
		return rcodeFormErr, key, 0
	}
	off := 12
	for {
		if off >= len(b) {
			return rcodeFormErr, key, 0
		}
		l := int(b[off])
		if l == 0 {
			key[klen] = 0
			klen++
			off++
			break
		}
		if l > 63 || off+1+l > len(b) || klen+1+l+1 > 255 {
			return rcodeFormErr, key, 0
		}
		key[klen] = byte(l)
		for i := 1; i <= l; i++ {
			key[klen+i] = lower(b[off+i])
		}
		klen += l + 1
		off += l + 1
	}
	if off+4 > len(b) {
		return rcodeFormErr, key, 0
	}
	q.qlen = klen
	q.qtype = binary.BigEndian.Uint16(b[off:])
	q.qclass = binary.BigEndian.Uint16(b[off+2:])
	off += 4
	q.qend = off
	// The other sections: skipped, except that one OPT in the additional
	// section is read; the message must end exactly after them.
	an := int(binary.BigEndian.Uint16(b[6:]))
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	for i := 0; i < an+ns+ar; i++ {
		off = skipName(b, off)
		if off < 0 || off+10 > len(b) {
			return rcodeFormErr, key, klen
		}
		t := binary.BigEndian.Uint16(b[off:])
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		rd := off + 10
		if rd+rdlen > len(b) {
			return rcodeFormErr, key, klen
		}
		if t == typeOPT {
			if i < an+ns || q.edns {
				return rcodeFormErr, key, klen
			}
			q.edns = true
			q.size = int(binary.BigEndian.Uint16(b[off+2:]))
			q.version = b[off+5]
			q.do = b[off+6]&0x80 != 0
			for o := rd; o < rd+rdlen; {
				if o+4 > rd+rdlen {
					return rcodeFormErr, key, klen
				}
				o += 4 + int(binary.BigEndian.Uint16(b[o+2:]))
				if o > rd+rdlen {
					return rcodeFormErr, key, klen
				}
			}
		}
		off = rd + rdlen
	}
	if off != len(b) {
		return rcodeFormErr, key, klen
	}
	return rcodeNoError, key, klen
}

// skipName returns the offset after the name at off, or -1.
func skipName(b []byte, off int) int {
	for {
		if off >= len(b) {
			return -1
		}
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xc0 == 0xc0:
			if off+2 > len(b) {
				return -1
			}
			return off + 2
		case l > 63:
			return -1
		}
		off += l + 1
	}
}

// hdr appends the response header: the query's ID and RD bit, QR, and
// the given AA, TC and (low 4 bits of) rcode.
func hdr(dst, b []byte, rcode int, aa, tc bool, qd, an, ns, ar uint16) []byte {
	f1 := byte(0x80) | b[2]&0x79 // QR, opcode, RD
	if aa {
		f1 |= 0x04
	}
	if tc {
		f1 |= 0x02
	}
	return append(dst, b[0], b[1], f1, byte(rcode&0xf),
		byte(qd>>8), byte(qd), byte(an>>8), byte(an), byte(ns>>8), byte(ns), byte(ar>>8), byte(ar))
}

// opt appends the server's OPT record: its UDP size, the extended rcode,
// version 0, the client's DO bit, and no options.
func opt(dst []byte, q *query, rcode, udpMax int) []byte {
	var do byte
	if q.do {
		do = 0x80
	}
	return append(dst, 0, 0, typeOPT, byte(udpMax>>8), byte(udpMax), byte(rcode>>4), 0, do, 0, 0, 0)
}

// formerr answers a malformed message: the header, and the question when
// it could be read; never an OPT (as Knot).
func formerr(dst, b []byte, q *query, res *result) []byte {
	res.rcode = rcodeFormErr
	if q.qend == 0 {
		return hdr(dst, b, rcodeFormErr, false, false, 0, 0, 0, 0)
	}
	dst = hdr(dst, b, rcodeFormErr, false, false, 1, 0, 0, 0)
	return append(dst, b[12:q.qend]...)
}

// header answers with the question, no records, and the OPT when the
// query had one.
func header(dst, b []byte, q *query, rcode int, aa bool, res *result) []byte {
	res.rcode = rcode
	var ar uint16
	if q.edns {
		ar = 1
	}
	dst = hdr(dst, b, rcode, aa, false, 1, 0, 0, ar)
	dst = append(dst, b[12:q.qend]...)
	if q.edns {
		dst = opt(dst, q, rcode, DefaultUDPSize)
	}
	return dst
}

// write copies a precomputed answer behind the query's own question, so
// the question and every name compressed into it keep the query's case.
func write(dst, b []byte, q *query, a *answer, tcp bool, udpMax int, res *result) []byte {
	res.rcode = int(a.rcode)
	var ar uint16
	optLen := 0
	if q.edns {
		ar, optLen = 1, 11
	}
	head := 12 + (q.qend - 12) + len(a.sect.b) + optLen
	limit := 0xffff
	if !tcp {
		limit = 512
		if q.edns {
			limit = max(512, min(q.size, udpMax))
		}
	}
	if head > limit {
		// Knot's truncation: TC, AA, the question and OPT, no records.
		res.truncated = true
		dst = hdr(dst, b, int(a.rcode), true, true, 1, 0, 0, ar)
		dst = append(dst, b[12:q.qend]...)
		if q.edns {
			dst = opt(dst, q, int(a.rcode), udpMax)
		}
		return dst
	}
	// Which additional RRsets fit (all of them unless UDP is tight).
	room := limit - head
	nextra := 0
	full := true
	for i := range a.extra {
		if len(a.extra[i].b) <= room {
			room -= len(a.extra[i].b)
			ar += a.extra[i].n
			nextra++
		} else {
			full = false
		}
	}
	dst = hdr(dst, b, int(a.rcode), true, false, 1, a.an, a.sect.n-a.an, ar)
	dst = append(dst, b[12:q.qend]...)
	dst = appendPart(dst, &a.sect, q.qlen)
	if nextra > 0 {
		room = limit - head
		for i := range a.extra {
			if full || len(a.extra[i].b) <= room {
				room -= len(a.extra[i].b)
				dst = appendPart(dst, &a.extra[i], q.qlen)
			}
		}
	}
	if q.edns {
		dst = opt(dst, q, int(a.rcode), udpMax)
	}
	return dst
}

// appendPart copies p and patches its qlen-relative pointers.
func appendPart(dst []byte, p *part, qlen int) []byte {
	at := len(dst)
	dst = append(dst, p.b...)
	for _, f := range p.fix {
		v := int(f.c) + qlen
		dst[at+int(f.pos)] = 0xc0 | byte(v>>8)
		dst[at+int(f.pos)+1] = byte(v)
	}
	return dst
}
