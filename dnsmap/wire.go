package dnsmap

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"

	"github.com/miekg/dns"
)

// A ref is where a name (or a suffix of it) can be found in a response, as
// a compression pointer target. The question name always starts at offset
// 12, but the section bytes that follow it start at 12+qlen+4, where qlen is
// the length of the query's name. When a part is built for one exact name,
// qlen is known and every ref is absolute; a template (a wildcard answer or
// a zone's negative answer) is built for any name below a known suffix, so
// its refs into the question suffix and into its own bytes depend on qlen.
type ref struct {
	c   int  // offset, or offset minus qlen when rel
	rel bool // add the query name's wire length
}

// fixup patches a qlen-relative compression pointer at pos (relative to the
// start of its part) when the part is copied into a response.
type fixup struct {
	pos uint16
	c   int16
}

// part is a run of RRs ready to copy into a response.
type part struct {
	b   []byte
	fix []fixup
	n   uint16 // RR count
}

// maxPtr is the highest offset a compression pointer can address; names
// written further into a message are not registered as pointer targets.
const maxPtr = 0x3fff

// writer builds the sections of one answer. It compresses names the way
// Knot does: owners and the names inside NS, CNAME, PTR, MX and SOA rdata
// point at the question name or at names written earlier, matched without
// regard to case, so that the query's spelling shows through wherever a
// pointer lands in the question.
//
// A builder keeps one writer for every answer it builds (see reset): parts
// are written into scratch buffers and copied out to exact size by done,
// and the compression dictionary is only filled when a name is written, so
// the common answer (RRs owned by the question name, no names in rdata)
// costs no map work and one small copy.
type writer struct {
	qwire  []byte         // lowercase wire form of the query name (exact), or nil (template)
	suffix []byte         // lowercase wire suffix of every query name (template)
	seeded bool           // dict holds the question's suffixes
	qlen   int            // wire length of the query name; -1 for a template
	dict   map[string]ref // lowercase wire suffix -> where it was written
	p      *part          // part being written
	base   ref            // where p starts in the message

	mem   *arena
	buf   []byte    // scratch: the bytes of the part being written
	fix   []fixup   // scratch: its fixups
	lname []byte    // scratch: lowercase copy of the name being written
	wire  [256]byte // scratch: wire form of an rdata name
}

// reset prepares w for a new answer, keeping its scratch space: an answer
// to the name qname (lowercase wire form) when exact, or to any name
// ending in suffix when a template (qname == nil).
func (w *writer) reset(qname, suffix []byte) {
	w.done()
	w.qwire, w.suffix = qname, suffix
	if w.seeded {
		clear(w.dict)
		w.seeded = false
	}
	if qname != nil {
		w.qlen = len(qname)
		w.base = ref{c: 12 + w.qlen + 4}
	} else {
		w.qlen = -1
		w.base = ref{c: 16, rel: true}
	}
}

// seed registers the question's suffixes, before any other name.
func (w *writer) seed() {
	if w.dict == nil {
		w.dict = make(map[string]ref)
	}
	w.seeded = true
	if qname := w.qwire; qname != nil {
		for off := 0; qname[off] != 0; off += int(qname[off]) + 1 {
			w.dict[string(qname[off:])] = ref{c: 12 + off}
		}
		return
	}
	suffix := w.suffix
	for off := 0; suffix[off] != 0; off += int(suffix[off]) + 1 {
		l := len(suffix) - off
		w.dict[string(suffix[off:])] = ref{c: 12 - l, rel: true}
	}
}

// start begins a new part at message position base, finishing the
// previous one.
func (w *writer) start(p *part, base ref) {
	w.done()
	w.p = p
	w.base = base
	p.b = w.buf[:0]
	p.fix = w.fix[:0]
}

// done finishes the current part: its bytes and fixups move out of the
// scratch space, to exactly their size. Every part must be done before its
// answer is used (or its part value copied).
func (w *writer) done() {
	p := w.p
	if p == nil {
		return
	}
	w.p = nil
	w.buf, w.fix = p.b[:0], p.fix[:0]
	p.b = w.mem.bytes(p.b)
	if len(p.fix) == 0 {
		p.fix = nil
	} else {
		p.fix = slices.Clone(p.fix)
	}
}

// wireName is the wire form of the validated name s, in w's scratch space
// (valid until the next call).
func (w *writer) wireName(s string) []byte {
	n, err := dns.PackDomainName(dns.Fqdn(s), w.wire[:], 0, nil, false)
	if err != nil {
		panic(fmt.Sprintf("dnsmap: packing validated name %q: %v", s, err))
	}
	return w.wire[:n]
}

// here is the ref of the next byte of the current part.
func (w *writer) here() ref {
	return ref{c: w.base.c + len(w.p.b), rel: w.base.rel}
}

// addressable reports whether r can be a pointer target in every message
// this writer's parts end up in.
func (w *writer) addressable(r ref) bool {
	c := r.c
	if r.rel {
		c += 255 // longest query name
	}
	return c <= maxPtr
}

// ptr writes a compression pointer to r.
func (w *writer) ptr(r ref) {
	if r.rel && w.qlen >= 0 {
		r = ref{c: r.c + w.qlen}
	}
	if r.rel {
		w.p.fix = append(w.p.fix, fixup{pos: uint16(len(w.p.b)), c: int16(r.c)})
		w.p.b = append(w.p.b, 0xc0, 0)
		return
	}
	w.p.b = append(w.p.b, 0xc0|byte(r.c>>8), byte(r.c))
}

// qname writes a pointer to the question name (the owner of every answer
// to the query itself).
func (w *writer) qname() ref {
	r := ref{c: 12}
	w.ptr(r)
	return r
}

// name writes name (wire form, any case), compressed against what the
// writer has seen when compress is set, and registers its suffixes. It
// returns where the whole name can be found.
func (w *writer) name(name []byte, compress bool) ref {
	if !w.seeded {
		w.seed()
	}
	w.lname = appendLowerWire(w.lname[:0], name)
	lname := w.lname
	var first ref
	wrote := false
	for off := 0; ; off += int(name[off]) + 1 {
		if name[off] == 0 {
			w.p.b = append(w.p.b, 0)
			if !wrote {
				first = w.here()
				first.c--
			}
			return first
		}
		if compress {
			if r, ok := w.dict[string(lname[off:])]; ok {
				if !wrote {
					first = r
				}
				w.ptr(r)
				return first
			}
		}
		at := w.here()
		if !wrote {
			first = at
			wrote = true
		}
		if w.addressable(at) {
			if _, ok := w.dict[string(lname[off:])]; !ok {
				w.dict[string(lname[off:])] = at
			}
		}
		w.p.b = append(w.p.b, name[off:off+int(name[off])+1]...)
	}
}

// owner writes an RR owner: the question name when o is nil, else o.
func (w *writer) owner(o []byte) ref {
	if o == nil {
		return w.qname()
	}
	return w.name(o, true)
}

// rr writes one RR with the given owner (nil: the question name) and TTL,
// and returns where the name in its rdata that additional-section
// processing follows (NS, MX, SRV targets) was written. rd is the RR's
// rdata as Build packed it (see appendRdata), for the types whose rdata
// holds no names; when nil it is packed here.
func (w *writer) rr(owner []byte, rr dns.RR, rd []byte, ttl uint32) (target ref, err error) {
	w.owner(owner)
	h := rr.Header()
	w.p.b = binary.BigEndian.AppendUint16(w.p.b, h.Rrtype)
	w.p.b = binary.BigEndian.AppendUint16(w.p.b, dns.ClassINET)
	w.p.b = binary.BigEndian.AppendUint32(w.p.b, ttl)
	lenAt := len(w.p.b)
	w.p.b = append(w.p.b, 0, 0)
	switch v := rr.(type) {
	case *dns.CNAME:
		w.name(w.wireName(v.Target), true)
	case *dns.NS:
		target = w.name(w.wireName(v.Ns), true)
	case *dns.PTR:
		w.name(w.wireName(v.Ptr), true)
	case *dns.MX:
		w.p.b = binary.BigEndian.AppendUint16(w.p.b, v.Preference)
		target = w.name(w.wireName(v.Mx), true)
	case *dns.SOA:
		w.name(w.wireName(v.Ns), true)
		w.name(w.wireName(v.Mbox), true)
		for _, n := range []uint32{v.Serial, v.Refresh, v.Retry, v.Expire, v.Minttl} {
			w.p.b = binary.BigEndian.AppendUint32(w.p.b, n)
		}
	case *dns.SRV:
		w.p.b = binary.BigEndian.AppendUint16(w.p.b, v.Priority)
		w.p.b = binary.BigEndian.AppendUint16(w.p.b, v.Weight)
		w.p.b = binary.BigEndian.AppendUint16(w.p.b, v.Port)
		target = w.name(w.wireName(v.Target), false)
	default:
		if rd == nil {
			var err error
			if rd, err = rdata(rr); err != nil {
				return ref{}, err
			}
		}
		w.p.b = append(w.p.b, rd...)
	}
	n := len(w.p.b) - lenAt - 2
	if n > 0xffff {
		return ref{}, fmt.Errorf("packing %s rdata: %d bytes", dns.TypeToString[h.Rrtype], n)
	}
	binary.BigEndian.PutUint16(w.p.b[lenAt:], uint16(n))
	w.p.n++
	return target, nil
}

// rdata packs rr's rdata without compression.
func rdata(rr dns.RR) ([]byte, error) {
	return appendRdata(nil, rr)
}

// appendRdata appends rr's rdata, packed without compression, to dst.
// A and AAAA, the bulk of edgesim's zones, are packed here as miekg/dns
// packs them; other types go through a copy of rr (dns.PackRR sets the
// header's Rdlength, and rr must not be modified).
func appendRdata(dst []byte, rr dns.RR) ([]byte, error) {
	switch v := rr.(type) {
	case *dns.A:
		switch len(v.A) {
		case net.IPv4len, net.IPv6len:
			if a4 := v.A.To4(); a4 != nil {
				return append(dst, a4...), nil
			}
			return append(dst, 0, 0, 0, 0), nil
		case 0:
			return dst, nil
		}
	case *dns.AAAA:
		switch len(v.AAAA) {
		case net.IPv6len:
			return append(dst, v.AAAA...), nil
		case 0:
			return dst, nil
		}
	}
	c := dns.Copy(rr)
	c.Header().Name = "."
	buf := make([]byte, dns.Len(c)+64)
	off, err := dns.PackRR(c, buf, 0, nil, false)
	if err != nil {
		return dst, fmt.Errorf("packing %s rdata: %w", dns.TypeToString[rr.Header().Rrtype], err)
	}
	// root owner (1) + type, class, ttl, rdlength (10)
	return append(dst, buf[11:off]...), nil
}

// wireName converts a presentation-format FQDN to wire form. Build has
// validated every name, so errors cannot happen here.
func wireName(s string) []byte {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(s), buf, 0, nil, false)
	if err != nil {
		panic(fmt.Sprintf("dnsmap: packing validated name %q: %v", s, err))
	}
	return buf[:n]
}

// lowerName is the lowercase wire form of the validated name s.
func lowerName(s string) []byte {
	var buf [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(s), buf[:], 0, nil, false)
	if err != nil {
		panic(fmt.Sprintf("dnsmap: packing validated name %q: %v", s, err))
	}
	return appendLowerWire(make([]byte, 0, n), buf[:n])
}

// appendLowerWire appends a lowercase copy of a wire-form name to dst
// (ASCII only, as DNS compares names).
func appendLowerWire(dst, name []byte) []byte {
	for i := 0; i < len(name); {
		l := int(name[i])
		dst = append(dst, name[i])
		if l == 0 {
			break
		}
		for j := i + 1; j <= i+l; j++ {
			dst = append(dst, lower(name[j]))
		}
		i += l + 1
	}
	return dst
}

// arena hands out byte slices carved from larger blocks: a Build makes a
// few large allocations for its answers' bytes instead of one per part.
// The slices have no spare capacity, so an append never writes into a
// neighbour.
type arena struct {
	block []byte
}

const arenaBlock = 64 << 10

// bytes returns a copy of p (nil when p is empty).
func (a *arena) bytes(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	if len(p) > arenaBlock/16 {
		return slices.Clone(p)
	}
	if len(a.block)+len(p) > cap(a.block) {
		a.block = make([]byte, 0, arenaBlock)
	}
	off := len(a.block)
	a.block = append(a.block, p...)
	return a.block[off:len(a.block):len(a.block)]
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// wireToString is the presentation form of a wire-form name (for errors
// and metric labels).
func wireToString(name []byte) string {
	s, _, err := dns.UnpackDomainName(name, 0)
	if err != nil {
		return fmt.Sprintf("%x", name)
	}
	return s
}
