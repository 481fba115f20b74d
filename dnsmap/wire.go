package dnsmap

import (
	"encoding/binary"
	"fmt"

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
type writer struct {
	qlen int            // wire length of the query name; -1 for a template
	dict map[string]ref // lowercase wire suffix -> where it was written
	p    *part          // part being written
	base ref            // where p starts in the message
}

// newWriter prepares a writer for answers to the name qname (lowercase
// wire form) when exact, or for any name ending in suffix when a template
// (qname == nil).
func newWriter(qname, suffix []byte) *writer {
	w := &writer{dict: make(map[string]ref)}
	if qname != nil {
		w.qlen = len(qname)
		for off := 0; qname[off] != 0; off += int(qname[off]) + 1 {
			w.dict[string(qname[off:])] = ref{c: 12 + off}
		}
		w.base = ref{c: 12 + w.qlen + 4}
	} else {
		w.qlen = -1
		for off := 0; suffix[off] != 0; off += int(suffix[off]) + 1 {
			l := len(suffix) - off
			w.dict[string(suffix[off:])] = ref{c: 12 - l, rel: true}
		}
		w.base = ref{c: 16, rel: true}
	}
	return w
}

// start begins a new part at message position base.
func (w *writer) start(p *part, base ref) {
	w.p = p
	w.base = base
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
	lname := lowerWire(name)
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
// processing follows (NS, MX, SRV targets) was written.
func (w *writer) rr(owner []byte, rr dns.RR, ttl uint32) (target ref, err error) {
	w.owner(owner)
	h := rr.Header()
	w.p.b = binary.BigEndian.AppendUint16(w.p.b, h.Rrtype)
	w.p.b = binary.BigEndian.AppendUint16(w.p.b, dns.ClassINET)
	w.p.b = binary.BigEndian.AppendUint32(w.p.b, ttl)
	lenAt := len(w.p.b)
	w.p.b = append(w.p.b, 0, 0)
	switch v := rr.(type) {
	case *dns.CNAME:
		w.name(wireName(v.Target), true)
	case *dns.NS:
		target = w.name(wireName(v.Ns), true)
	case *dns.PTR:
		w.name(wireName(v.Ptr), true)
	case *dns.MX:
		w.p.b = binary.BigEndian.AppendUint16(w.p.b, v.Preference)
		target = w.name(wireName(v.Mx), true)
	case *dns.SOA:
		w.name(wireName(v.Ns), true)
		w.name(wireName(v.Mbox), true)
		for _, n := range []uint32{v.Serial, v.Refresh, v.Retry, v.Expire, v.Minttl} {
			w.p.b = binary.BigEndian.AppendUint32(w.p.b, n)
		}
	case *dns.SRV:
		w.p.b = binary.BigEndian.AppendUint16(w.p.b, v.Priority)
		w.p.b = binary.BigEndian.AppendUint16(w.p.b, v.Weight)
		w.p.b = binary.BigEndian.AppendUint16(w.p.b, v.Port)
		target = w.name(wireName(v.Target), false)
	default:
		rd, err := rdata(rr)
		if err != nil {
			return ref{}, err
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
	c := dns.Copy(rr)
	c.Header().Name = "."
	buf := make([]byte, dns.Len(c)+64)
	off, err := dns.PackRR(c, buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("packing %s rdata: %w", dns.TypeToString[rr.Header().Rrtype], err)
	}
	// root owner (1) + type, class, ttl, rdlength (10)
	return buf[11:off], nil
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

// lowerWire returns a lowercase copy of a wire-form name (ASCII only, as
// DNS compares names).
func lowerWire(name []byte) []byte {
	out := make([]byte, len(name))
	for i := 0; i < len(name); {
		l := int(name[i])
		out[i] = name[i]
		if l == 0 {
			break
		}
		for j := i + 1; j <= i+l; j++ {
			out[j] = lower(name[j])
		}
		i += l + 1
	}
	return out
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
