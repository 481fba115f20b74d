package dnsmap

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Zone is the data of one zone as the caller hands it to [Build]: the apex
// name and every RR of the zone. Records must include exactly one SOA and
// at least one NS at the apex; other owners must be at or below Name and
// of class IN. "*.<name>" owners are wildcards (RFC 4592). Records are
// served as given, TTLs included: the caller sets 300 s on answers for
// proxied hostnames and Spectrum apps. Owner names are matched without
// regard to case; the RRs are not modified or retained after Build.
//
// Not supported (Build reports them): NS below the apex (delegations),
// DNAME, CNAME beside other data, and meta types such as OPT or TSIG.
type Zone struct {
	Name    string
	Records []dns.RR
}

// ParseZone reads a zone in RFC 1035 master-file format, as knotd or
// nsd would, with origin as the default $ORIGIN. file names the source in
// errors.
func ParseZone(r io.Reader, origin, file string) (Zone, error) {
	z := Zone{Name: dns.Fqdn(origin)}
	zp := dns.NewZoneParser(r, z.Name, file)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		z.Records = append(z.Records, rr)
	}
	if err := zp.Err(); err != nil {
		return Zone{}, fmt.Errorf("parsing zone %q: %w", file, err)
	}
	return z, nil
}

// Set is a compiled, immutable answer set for any number of zones. Every
// answer a query can get is built by [Build]; answering is a map lookup
// and a copy. A Set is safe for concurrent use. The zero Set (and a nil
// *Set) answers REFUSED to every query.
type Set struct {
	names map[string]*node // lowercase wire-form owner -> node (incl. apexes and empty non-terminals)
	zones []*zone
}

// Zones returns the apex names of the set's zones, in the order given to
// Build.
func (s *Set) Zones() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.zones))
	for i, z := range s.zones {
		out[i] = z.name
	}
	return out
}

type zone struct {
	idx      int
	name     string // presentation form, lowercase
	apex     []byte // lowercase wire form
	soa      *dns.SOA
	soaNames [][]byte // the SOA's MNAME and RNAME, lowercase wire form
	nodata   *answer  // template: NOERROR, SOA (negative TTL) in authority
	nxdomain *answer  // template: NXDOMAIN, SOA in authority
}

// node is one owner name: its RRsets and the answer to every query type
// that reaches it.
type node struct {
	zone  *zone
	owner []byte // lowercase wire form
	wild  *node  // the "*.<owner>" node, if any
	isWC  bool   // owner is a wildcard: answers are templates
	sets  []rrset

	types []uint16  // query types with a precomputed answer, parallel to ans
	ans   []*answer //
	anyA  *answer   // answer to ANY (the lowest-numbered RRset, as Knot does)
	other *answer   // answer to every other type (NODATA, or a CNAME chain's end)
	nx    *answer   // NXDOMAIN for names below this one when it is their closest encloser
}

type rrset struct {
	t   uint16
	ttl uint32
	rrs []dns.RR
	rd  [][]byte // rdata of each RR, packed without compression (see rdata)
}

func (n *node) rrset(t uint16) *rrset {
	for i := range n.sets {
		if n.sets[i].t == t {
			return &n.sets[i]
		}
	}
	return nil
}

// answer is a response body ready to copy after the question.
type answer struct {
	rcode uint8
	an    uint16 // answer RRs in sect; the rest of sect.n is authority
	sect  part   // answer and authority sections
	extra []part // additional RRsets (A/AAAA of NS, MX, SRV targets), each dropped if it does not fit
}

func (a *answer) size() int {
	n := len(a.sect.b)
	for i := range a.extra {
		n += len(a.extra[i].b)
	}
	return n
}

// Build validates zones and precomputes every answer. It reports all
// problems at once (errors.Join); on error the Set is nil.
func Build(zones []Zone) (*Set, error) {
	// Owners come grouped in practice; counting changes of owner bounds the
	// number of distinct ones without a map.
	owners := len(zones)
	for i := range zones {
		prev := ""
		for _, rr := range zones[i].Records {
			if h := rr.Header(); h.Name != prev {
				owners++
				prev = h.Name
			}
		}
	}
	b := &builder{set: &Set{names: make(map[string]*node, owners)}, order: make([]*node, 0, owners)}
	b.w.mem = &b.mem
	for i := range zones {
		b.addZone(&zones[i])
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	b.link()
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	for _, z := range b.set.zones {
		b.zoneTemplates(z)
	}
	for _, n := range b.order {
		b.answers(n)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return b.set, nil
}

type builder struct {
	set   *Set
	order []*node // nodes in insertion order (deterministic builds)
	errs  []error
	apexs map[string]*zone

	// What a Set holds per name is carved from a few large blocks: with one
	// allocation per node, RRset, answer and part, allocation and GC were
	// most of the time of a big build (bench/RESULTS.md, ## dns).
	w     writer // reused for every answer
	mem   arena  // answer bytes, owner names, rdata
	slabs struct {
		nodes   slab[node]
		answers slab[answer]
		sets    slab[rrset]
		rrs     slab[dns.RR]
		rds     slab[[]byte]
		types   slab[uint16]
		ans     slab[*answer]
	}
	wire      [256]byte // scratch: wire form of an owner name
	rdbuf     []byte    // scratch: rdata being packed
	last      *node     // the node of the last record added, and its owner
	lastOwner string
}

// slab hands out small slices carved from larger blocks. A slice has no
// spare capacity beyond what was asked for, so appending past it moves
// it to its own array, never into a neighbour.
type slab[T any] struct {
	block []T
}

const slabBlock = 1024

// take returns a slice of length 0 and capacity n.
func (s *slab[T]) take(n int) []T {
	if n > slabBlock/8 {
		return make([]T, 0, n)
	}
	if len(s.block)+n > cap(s.block) {
		s.block = make([]T, 0, slabBlock)
	}
	off := len(s.block)
	s.block = s.block[:off+n]
	return s.block[off : off : off+n]
}

// new returns a pointer to a zero T.
func (s *slab[T]) new() *T {
	return &s.take(1)[:1][0]
}

func (b *builder) errorf(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

func (b *builder) addZone(zd *Zone) {
	if b.apexs == nil {
		b.apexs = make(map[string]*zone)
	}
	name := strings.ToLower(dns.Fqdn(zd.Name))
	if _, ok := dns.IsDomainName(name); !ok || zd.Name == "" {
		b.errorf("building zone %q: invalid zone name", zd.Name)
		return
	}
	if _, dup := b.apexs[name]; dup {
		b.errorf("building zone %q: duplicate zone", name)
		return
	}
	z := &zone{idx: len(b.set.zones), name: name, apex: wireName(name)}
	b.apexs[name] = z
	b.set.zones = append(b.set.zones, z)
	b.node(z, z.apex)
	for _, rr := range zd.Records {
		b.addRR(z, rr)
	}
	apex := b.set.names[string(z.apex)]
	if s := apex.rrset(dns.TypeSOA); s == nil {
		b.errorf("building zone %q: no SOA at the apex", name)
	} else if len(s.rrs) != 1 {
		b.errorf("building zone %q: %d SOA records at the apex, want 1", name, len(s.rrs))
	} else {
		z.soa = s.rrs[0].(*dns.SOA)
		for _, x := range rdataNames(z.soa) {
			z.soaNames = append(z.soaNames, lowerName(x))
		}
	}
	if apex.rrset(dns.TypeNS) == nil {
		b.errorf("building zone %q: no NS at the apex", name)
	}
}

func (b *builder) node(z *zone, owner []byte) *node {
	if n, ok := b.set.names[string(owner)]; ok {
		return n
	}
	return b.newNode(z, owner)
}

// newNode adds the node owner, which the set does not have yet.
func (b *builder) newNode(z *zone, owner []byte) *node {
	n := b.slabs.nodes.new()
	*n = node{zone: z, owner: owner, isWC: owner[0] == 1 && owner[1] == '*'}
	b.set.names[string(owner)] = n
	b.order = append(b.order, n)
	return n
}

func (b *builder) addRR(z *zone, rr dns.RR) {
	h := rr.Header()
	owner := strings.ToLower(h.Name)
	fail := func(msg string) {
		b.errorf("building zone %q: record %q: %s", z.name, strings.ReplaceAll(rr.String(), "\t", " "), msg)
	}
	if _, ok := dns.IsDomainName(owner); !ok || !dns.IsFqdn(owner) {
		fail("owner is not a fully qualified name")
		return
	}
	if !isSubDomain(z.name, owner) {
		fail("owner is outside the zone")
		return
	}
	if h.Class != dns.ClassINET {
		fail("class is not IN")
		return
	}
	apex := owner == z.name
	switch h.Rrtype {
	case dns.TypeSOA:
		if !apex {
			fail("SOA is only allowed at the apex")
			return
		}
	case dns.TypeNS:
		if !apex {
			fail("delegations (NS below the apex) are not supported")
			return
		}
	case dns.TypeDNAME:
		fail("DNAME is not supported")
		return
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeIXFR, dns.TypeAXFR, dns.TypeANY,
		dns.TypeMAILA, dns.TypeMAILB, dns.TypeNone, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
		fail("type cannot be served as zone data")
		return
	case dns.TypeCNAME:
		if apex {
			fail("CNAME at the apex")
			return
		}
	}
	rd, err := appendRdata(b.rdbuf[:0], rr)
	b.rdbuf = rd
	if err != nil {
		fail(err.Error())
		return
	}
	for _, t := range rdataNames(rr) {
		if _, ok := dns.IsDomainName(t); !ok || !dns.IsFqdn(t) {
			fail(fmt.Sprintf("name %q in rdata is not a fully qualified name", t))
			return
		}
	}
	n := b.last
	if n == nil || owner != b.lastOwner { // records come grouped by owner
		wire, err := dns.PackDomainName(owner, b.wire[:], 0, nil, false)
		if err != nil {
			panic(fmt.Sprintf("dnsmap: packing validated name %q: %v", owner, err))
		}
		if n = b.set.names[string(b.wire[:wire])]; n == nil {
			n = b.newNode(z, b.mem.bytes(b.wire[:wire]))
		}
		b.last, b.lastOwner = n, owner
	}
	if n.zone != z {
		fail(fmt.Sprintf("owner is also in zone %q", n.zone.name))
		return
	}
	s := n.rrset(h.Rrtype)
	if s == nil {
		if n.sets == nil {
			n.sets = b.slabs.sets.take(2)
		}
		n.sets = append(n.sets, rrset{t: h.Rrtype, ttl: h.Ttl, rrs: b.slabs.rrs.take(1), rd: b.slabs.rds.take(1)})
		s = &n.sets[len(n.sets)-1]
	}
	for _, have := range s.rrs {
		if dns.IsDuplicate(have, rr) {
			return
		}
	}
	s.ttl = min(s.ttl, h.Ttl) // RFC 2181 5.2: one TTL per RRset; serve the lowest
	s.rrs = append(s.rrs, rr)
	s.rd = append(s.rd, b.mem.bytes(rd))
}

// isSubDomain is dns.IsSubDomain(parent, child) for lowercase FQDNs,
// without allocating when neither name holds an escape.
func isSubDomain(parent, child string) bool {
	if strings.IndexByte(parent, '\\') >= 0 || strings.IndexByte(child, '\\') >= 0 {
		return dns.IsSubDomain(parent, child)
	}
	if parent == "." {
		return true
	}
	return child == parent ||
		len(child) > len(parent) && strings.HasSuffix(child, parent) && child[len(child)-len(parent)-1] == '.'
}

func rdataNames(rr dns.RR) []string {
	switch v := rr.(type) {
	case *dns.CNAME:
		return []string{v.Target}
	case *dns.NS:
		return []string{v.Ns}
	case *dns.PTR:
		return []string{v.Ptr}
	case *dns.MX:
		return []string{v.Mx}
	case *dns.SOA:
		return []string{v.Ns, v.Mbox}
	case *dns.SRV:
		return []string{v.Target}
	}
	return nil
}

// link checks cross-record rules, adds empty non-terminals, and links
// wildcards to their parents.
func (b *builder) link() {
	for _, n := range slices.Clone(b.order) {
		z := n.zone
		if len(n.sets) == 0 {
			continue
		}
		slices.SortFunc(n.sets, func(a, b rrset) int { return cmp.Compare(a.t, b.t) })
		if c := n.rrset(dns.TypeCNAME); c != nil {
			if len(c.rrs) > 1 {
				b.errorf("building zone %q: %d CNAME records at %q, want 1", z.name, len(c.rrs), wireToString(n.owner))
			}
			if len(n.sets) > 1 {
				b.errorf("building zone %q: CNAME and other data at %q", z.name, wireToString(n.owner))
			}
		}
		// ancestors up to the apex: empty non-terminals where missing, and
		// no name may sit inside another of our zones.
		for off := int(n.owner[0]) + 1; len(n.owner) > len(z.apex) && off < len(n.owner); off += int(n.owner[off]) + 1 {
			anc := n.owner[off:]
			if string(anc) == string(z.apex) {
				break
			}
			if o, ok := b.set.names[string(anc)]; ok {
				if o.zone != z {
					b.errorf("building zone %q: owner %q is inside zone %q", z.name, wireToString(n.owner), o.zone.name)
					break
				}
				continue
			}
			b.node(z, anc)
		}
	}
	for _, n := range b.order {
		if n.isWC {
			b.set.names[string(n.owner[2:])].wild = n
		}
	}
}

// zoneTemplates builds the zone's negative answers: the SOA with TTL
// min(SOA TTL, MINIMUM) (RFC 2308) in the authority section, owner
// compressed against the question's apex suffix.
func (b *builder) zoneTemplates(z *zone) {
	soa := z.soa
	ttl := min(soa.Hdr.Ttl, soa.Minttl)
	mk := func(rcode uint8) *answer {
		a := &answer{rcode: rcode}
		w := b.writer(nil, z.apex)
		w.start(&a.sect, w.base)
		if _, err := w.rr(z.apex, soa, nil, ttl); err != nil {
			b.errorf("building zone %q: %w", z.name, err)
		}
		w.done()
		return a
	}
	z.nodata = mk(dns.RcodeSuccess)
	z.nxdomain = mk(dns.RcodeNameError)
}

// answers precomputes the answers at node n.
func (b *builder) answers(n *node) {
	n.nx = b.negative(n, dns.RcodeNameError, n.owner, false)
	if n.isWC {
		n.other = b.negative(n, dns.RcodeSuccess, n.owner[2:], false)
	} else {
		n.other = b.negative(n, dns.RcodeSuccess, n.owner, true)
	}
	if len(n.sets) == 0 {
		n.anyA = n.other
		return
	}
	nodata := n.other
	if c := n.rrset(dns.TypeCNAME); c != nil {
		// The CNAME itself answers CNAME and ANY; RRSIG gets NODATA, as in
		// Knot; any other type follows the chain within the zone.
		cn := b.build(n, dns.TypeCNAME)
		end := b.chainEnd(n)
		size := 2
		if end != nil {
			size += len(end.sets)
		}
		n.types, n.ans = b.slabs.types.take(size), b.slabs.ans.take(size)
		n.types = append(n.types, dns.TypeCNAME, dns.TypeRRSIG)
		n.ans = append(n.ans, cn, nodata)
		n.anyA = cn
		if end != nil {
			for _, s := range end.sets {
				n.types = append(n.types, s.t)
				n.ans = append(n.ans, b.build(n, s.t))
			}
		}
		n.other = b.build(n, 0)
		return
	}
	n.types, n.ans = b.slabs.types.take(len(n.sets)), b.slabs.ans.take(len(n.sets))
	for _, s := range n.sets {
		n.types = append(n.types, s.t)
		n.ans = append(n.ans, b.build(n, s.t))
	}
	n.anyA = n.ans[0] // sets are sorted by type
}

// negative returns the NODATA or NXDOMAIN answer for queries that reach
// n, whose names end in suffix (exact: are suffix). Knot compresses the
// SOA's MNAME and RNAME into the question whenever they are a suffix of
// it, which shows the query's case; the zone template covers every node
// where that can only happen at the apex, the common case.
func (b *builder) negative(n *node, rcode uint8, suffix []byte, exact bool) *answer {
	z := n.zone
	special := false
	for _, xw := range z.soaNames {
		if len(xw) > len(z.apex) && inZone(suffix, xw) {
			special = true
		}
	}
	if !special {
		if rcode == dns.RcodeNameError {
			return z.nxdomain
		}
		return z.nodata
	}
	a := &answer{rcode: rcode}
	var w *writer
	if exact {
		w = b.writer(suffix, nil)
	} else {
		w = b.writer(nil, suffix)
	}
	w.start(&a.sect, w.base)
	b.soa(w, z, a)
	w.done()
	return a
}

// writer returns the builder's writer, reset for an answer to qname
// (exact) or any name ending in suffix (template).
func (b *builder) writer(qname, suffix []byte) *writer {
	b.w.reset(qname, suffix)
	return &b.w
}

// step resolves name within zone z the way a query would: the node holding
// its data (a wildcard node for a synthesized name), or nil with nx set when
// the name does not exist, or nil without nx when it is outside z.
func (b *builder) step(z *zone, name []byte) (nd *node, nx bool) {
	if n, ok := b.set.names[string(name)]; ok {
		if n.zone != z {
			return nil, false
		}
		return n, false
	}
	if !inZone(name, z.apex) {
		return nil, false
	}
	for off := int(name[0]) + 1; off < len(name); off += int(name[off]) + 1 {
		if ce, ok := b.set.names[string(name[off:])]; ok {
			if ce.zone != z {
				return nil, false
			}
			if ce.wild != nil {
				return ce.wild, false
			}
			return nil, true
		}
	}
	return nil, false
}

func inZone(name, apex []byte) bool {
	return len(name) >= len(apex) && string(name[len(name)-len(apex):]) == string(apex) &&
		(len(name) == len(apex) || labelBoundary(name, len(name)-len(apex)))
}

func labelBoundary(name []byte, at int) bool {
	for off := 0; off < len(name); off += int(name[off]) + 1 {
		if off == at {
			return true
		}
		if name[off] == 0 {
			break
		}
	}
	return false
}

// maxChain bounds CNAME chains (Knot stops at loops; so do we).
const maxChain = 16

// chainEnd follows the CNAME chain from n within its zone and returns the
// last node reached that is not a CNAME, or nil.
func (b *builder) chainEnd(n *node) *node {
	seen := map[*node]bool{n: true}
	cur := n
	for range maxChain {
		c := cur.rrset(dns.TypeCNAME)
		if c == nil {
			return cur
		}
		next, _ := b.step(n.zone, lowerName(c.rrs[0].(*dns.CNAME).Target))
		if next == nil || seen[next] {
			return nil
		}
		seen[next] = true
		cur = next
	}
	return nil
}

// build writes the answer at n for query type t (0: a type n's chain end
// does not have). Owners of n's own RRs are the question name.
func (b *builder) build(n *node, t uint16) *answer {
	z := n.zone
	a := b.slabs.answers.new()
	var w *writer
	if n.isWC {
		w = b.writer(nil, n.owner[2:])
	} else {
		w = b.writer(n.owner, nil)
	}
	w.start(&a.sect, w.base)
	fail := func(err error) *answer {
		w.done()
		b.errorf("building zone %q: answer for %s %s: %w", z.name, wireToString(n.owner), dns.TypeToString[t], err)
		return a
	}
	var owner []byte // nil: the question name
	cur := n
	var seenBuf [maxChain + 1]*node
	seen := seenBuf[:0]
	var targets []ref
	var targetNames [][]byte
	for range maxChain + 1 {
		seen = append(seen, cur)
		if c := cur.rrset(dns.TypeCNAME); c != nil && t != dns.TypeCNAME {
			if _, err := w.rr(owner, c.rrs[0], nil, c.ttl); err != nil {
				return fail(err)
			}
			a.an++
			tname := lowerName(c.rrs[0].(*dns.CNAME).Target)
			next, nx := b.step(z, tname)
			if nx {
				a.rcode = dns.RcodeNameError
				b.soa(w, z, a)
			}
			if next == nil || slices.Contains(seen, next) {
				break
			}
			cur, owner = next, tname
			continue
		}
		s := cur.rrset(t)
		if s == nil {
			b.soa(w, z, a) // NODATA
			break
		}
		for j, rr := range s.rrs {
			tr, err := w.rr(owner, rr, s.rd[j], s.ttl)
			if err != nil {
				return fail(err)
			}
			a.an++
			if t == dns.TypeNS || t == dns.TypeMX || t == dns.TypeSRV {
				targets = append(targets, tr)
				targetNames = append(targetNames, lowerName(rdataNames(rr)[0]))
			}
		}
		break
	}
	// Additional section: A then AAAA of each NS/MX/SRV target held in the
	// zone, each RRset its own part so UDP can drop what does not fit.
	done := map[string]bool{}
	for i, tn := range targetNames {
		if done[string(tn)] {
			continue
		}
		done[string(tn)] = true
		tnode, ok := b.set.names[string(tn)]
		if !ok || tnode.zone != z {
			continue
		}
		for _, at := range []uint16{dns.TypeA, dns.TypeAAAA} {
			s := tnode.rrset(at)
			if s == nil {
				continue
			}
			p := part{}
			w.start(&p, ref{}) // owners are pointers; no pointer ever targets an extra part
			for j, rr := range s.rrs {
				w.ptr(targets[i])
				h := rr.Header()
				rd := s.rd[j]
				p.b = append(p.b, byte(h.Rrtype>>8), byte(h.Rrtype), 0, 1,
					byte(s.ttl>>24), byte(s.ttl>>16), byte(s.ttl>>8), byte(s.ttl),
					byte(len(rd)>>8), byte(len(rd)))
				p.b = append(p.b, rd...)
				p.n++
			}
			w.done()
			a.extra = append(a.extra, p)
		}
	}
	w.done()
	if 12+255+4+a.size()+11 > 0xffff {
		return fail(errors.New("answer does not fit in a DNS message"))
	}
	return a
}

// soa appends the zone's negative-answer SOA to the authority section.
func (b *builder) soa(w *writer, z *zone, a *answer) {
	if _, err := w.rr(z.apex, z.soa, nil, min(z.soa.Hdr.Ttl, z.soa.Minttl)); err != nil {
		b.errorf("building zone %q: %w", z.name, err)
	}
}
