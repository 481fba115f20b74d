package dnsmap

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// ask runs one query through Set.Respond and unpacks the answer.
func ask(t *testing.T, set *Set, m *dns.Msg, tcp bool) *dns.Msg {
	t.Helper()
	out := set.Respond(nil, pack(t, m), tcp)
	if len(out) == 0 {
		t.Fatalf("%v: no response", m.Question)
	}
	return unpack(t, out)
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return out
}

func TestRules(t *testing.T) {
	t.Parallel()
	set := testSet(t)
	edns := func(m *dns.Msg) *dns.Msg { m.SetEdns0(1232, false); return m }
	tests := []struct {
		name   string
		q      *dns.Msg
		rcode  int
		aa     bool
		answer []string
		ns     []string
	}{
		{"A hit", msg("h1.a.test.", dns.TypeA), dns.RcodeSuccess, true, []string{"h1.a.test. 300 IN A 192.0.2.2"}, nil},
		{"AAAA hit", msg("h2.a.test.", dns.TypeAAAA), dns.RcodeSuccess, true, []string{"h2.a.test. 300 IN AAAA 2001:db8::3"}, nil},
		{"NODATA has SOA with negative TTL", msg("h1.a.test.", dns.TypeAAAA), dns.RcodeSuccess, true, nil,
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"NXDOMAIN has SOA", msg("nope.a.test.", dns.TypeA), dns.RcodeNameError, true, nil,
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"negative TTL is min(SOA TTL, MINIMUM)", msg("nope.b.test.", dns.TypeA), dns.RcodeNameError, true, nil,
			[]string{"b.test. 600 IN SOA ns2.b.test. hostmaster.b.test. 7 10000 2400 604800 600"}},
		{"below a leaf is NXDOMAIN", msg("x.h1.a.test.", dns.TypeA), dns.RcodeNameError, true, nil,
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"empty non-terminal is NODATA", msg("deep.a.test.", dns.TypeA), dns.RcodeSuccess, true, nil,
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"wildcard synthesis, owner is the qname", msg("Foo.Wild.a.test.", dns.TypeA), dns.RcodeSuccess, true,
			[]string{"Foo.Wild.a.test. 300 IN A 198.51.100.7"}, nil},
		{"wildcard several labels deep", msg("a.b.wild.a.test.", dns.TypeAAAA), dns.RcodeSuccess, true,
			[]string{"a.b.wild.a.test. 300 IN AAAA 2001:db8::7"}, nil},
		{"wildcard NODATA", msg("foo.wild.a.test.", dns.TypeTXT), dns.RcodeSuccess, true, nil,
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"ENT parent of a wildcard is NODATA, not the wildcard", msg("wild.a.test.", dns.TypeA), dns.RcodeSuccess, true, nil,
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"ENT blocks a wildcard above it", msg("x.a.ent.deep.a.test.", dns.TypeA), dns.RcodeNameError, true, nil,
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"CNAME chain within the zone", msg("c3.a.test.", dns.TypeA), dns.RcodeSuccess, true,
			[]string{"c3.a.test. 300 IN CNAME c2.a.test.", "c2.a.test. 300 IN CNAME www.a.test.", "www.a.test. 300 IN CNAME h1.a.test.", "h1.a.test. 300 IN A 192.0.2.2"}, nil},
		{"CNAME to another zone is not followed", msg("cx.a.test.", dns.TypeA), dns.RcodeSuccess, true,
			[]string{"cx.a.test. 300 IN CNAME x.b.test."}, nil},
		{"CNAME to a missing name is NXDOMAIN", msg("cnx.a.test.", dns.TypeA), dns.RcodeNameError, true,
			[]string{"cnx.a.test. 300 IN CNAME nope.a.test."},
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"CNAME into a wildcard", msg("cw.a.test.", dns.TypeA), dns.RcodeSuccess, true,
			[]string{"cw.a.test. 300 IN CNAME foo.wild.a.test.", "foo.wild.a.test. 300 IN A 198.51.100.7"}, nil},
		{"wildcard CNAME", msg("x.cwild.a.test.", dns.TypeAAAA), dns.RcodeSuccess, true,
			[]string{"x.cwild.a.test. 300 IN CNAME h1.a.test."},
			[]string{"a.test. 1800 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}},
		{"apex SOA", msg("a.test.", dns.TypeSOA), dns.RcodeSuccess, true,
			[]string{"a.test. 3600 IN SOA ns1.a.test. hostmaster.a.test. 1 10000 2400 604800 1800"}, nil},
		{"apex NS", msg("a.test.", dns.TypeNS), dns.RcodeSuccess, true,
			[]string{"a.test. 86400 IN NS ns1.a.test.", "a.test. 86400 IN NS ns2.b.test."}, nil},
		{"out of zone is REFUSED without AA", msg("example.com.", dns.TypeA), dns.RcodeRefused, false, nil, nil},
		{"parent of a zone is REFUSED", msg("test.", dns.TypeA), dns.RcodeRefused, false, nil, nil},
		{"class CH is REFUSED", func() *dns.Msg { m := msg("h1.a.test.", dns.TypeA); m.Question[0].Qclass = dns.ClassCHAOS; return m }(),
			dns.RcodeRefused, false, nil, nil},
		{"BADVERS for EDNS version 1", func() *dns.Msg { m := edns(msg("h1.a.test.", dns.TypeA)); m.IsEdns0().SetVersion(1); return m }(),
			dns.RcodeBadVers, false, nil, nil},
		{"NOTIMP for opcode STATUS", func() *dns.Msg { m := msg("h1.a.test.", dns.TypeA); m.Opcode = dns.OpcodeStatus; return m }(),
			dns.RcodeNotImplemented, false, nil, nil},
		{"NOTIMP for NOTIFY", func() *dns.Msg { m := msg("h1.a.test.", dns.TypeA); m.Opcode = dns.OpcodeNotify; return m }(),
			dns.RcodeNotImplemented, false, nil, nil},
		{"FORMERR for two questions", func() *dns.Msg {
			m := msg("h1.a.test.", dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}(),
			dns.RcodeFormatError, false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ask(t, set, tt.q, false)
			if r.Rcode != tt.rcode || r.Authoritative != tt.aa {
				t.Errorf("rcode %s aa %v, want %s aa %v", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tt.rcode], tt.aa)
			}
			if got := strings.Join(rrStrings(r.Answer), "\n"); got != strings.Join(tt.answer, "\n") {
				t.Errorf("answer:\n%s\nwant:\n%s", got, strings.Join(tt.answer, "\n"))
			}
			if got := strings.Join(rrStrings(r.Ns), "\n"); got != strings.Join(tt.ns, "\n") {
				t.Errorf("authority:\n%s\nwant:\n%s", got, strings.Join(tt.ns, "\n"))
			}
			if r.Id != tt.q.Id || !r.Response || r.RecursionAvailable {
				t.Errorf("id %d qr %v ra %v, want id %d qr true ra false", r.Id, r.Response, r.RecursionAvailable, tt.q.Id)
			}
		})
	}
}

func TestCasePreserved(t *testing.T) {
	t.Parallel()
	set := testSet(t)
	for _, name := range []string{"WwW.A.TeSt.", "NOPE.a.TEST.", "Foo.WILD.A.test."} {
		r := ask(t, set, msg(name, dns.TypeA), false)
		if r.Question[0].Name != name {
			t.Errorf("question %q, want %q", r.Question[0].Name, name)
		}
		for _, rr := range append(r.Answer, r.Ns...) {
			// every name compressed into the question reads as the query
			// spelled it: here, the zone part of each owner
			if o, apex := rr.Header().Name, name[len(name)-len("a.test."):]; !strings.HasSuffix(o, apex) {
				t.Errorf("%s: owner %q does not end in %q as spelled", name, o, apex)
			}
		}
		if len(r.Answer) > 0 && r.Answer[0].Header().Name != name {
			t.Errorf("answer owner %q, want %q", r.Answer[0].Header().Name, name)
		}
	}
	r := ask(t, set, msg("WwW.A.TeSt.", dns.TypeA), false)
	if got := r.Answer[0].(*dns.CNAME).Target; got != "h1.A.TeSt." {
		t.Errorf("CNAME target %q, want h1.A.TeSt. (compressed into the question, as Knot)", got)
	}
}

func TestEDNS(t *testing.T) {
	t.Parallel()
	set := testSet(t)
	m := msg("h1.a.test.", dns.TypeA)
	o := m.SetEdns0(4096, true).IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1}}, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	r := ask(t, set, m, false)
	ro := r.IsEdns0()
	if ro == nil || ro.UDPSize() != 1232 || !ro.Do() || ro.Version() != 0 || len(ro.Option) != 0 {
		t.Fatalf("OPT %v, want udp 1232, DO echoed, version 0, no options", ro)
	}
	if r := ask(t, set, msg("h1.a.test.", dns.TypeA), false); r.IsEdns0() != nil {
		t.Error("OPT in the answer to a query without EDNS")
	}
	// The client's size is honoured: "big" (40 A, 679 bytes) fits 1232 but
	// not 600 or 512.
	for size, wantTC := range map[uint16]bool{0: true, 100: true, 512: true, 600: true, 700: false, 1232: false, 4096: false} {
		m := msg("big.a.test.", dns.TypeA)
		if size > 0 {
			m.SetEdns0(size, false)
		}
		raw := set.Respond(nil, pack(t, m), false)
		r := unpack(t, raw)
		if r.Truncated != wantTC {
			t.Errorf("size %d: TC %v, want %v", size, r.Truncated, wantTC)
		}
		if limit := max(512, min(int(size), 1232)); len(raw) > limit {
			t.Errorf("size %d: %d-byte response over the limit %d", size, len(raw), limit)
		}
		if wantTC && (len(r.Answer) != 0 || !r.Authoritative) {
			t.Errorf("size %d: truncated answer has %d RRs, aa %v; want none, aa (as Knot)", size, len(r.Answer), r.Authoritative)
		}
	}
	// BADVERS: extended rcode in the OPT, DO echoed.
	m = msg("h1.a.test.", dns.TypeA)
	m.SetEdns0(1232, true).IsEdns0().SetVersion(1)
	r = ask(t, set, m, false)
	if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil || r.IsEdns0().Version() != 0 {
		t.Errorf("rcode %d OPT %v, want BADVERS with version 0", r.Rcode, r.IsEdns0())
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	set := testSet(t)
	good := pack(t, msg("h1.a.test.", dns.TypeA))
	resp := pack(t, func() *dns.Msg { m := msg("h1.a.test.", dns.TypeA); m.Response = true; return m }())
	for name, tt := range map[string]struct {
		raw   []byte
		rcode int // -1: no response
	}{
		"short header":     {good[:11], -1},
		"response":         {resp, -1},
		"header only":      {good[:12], dns.RcodeFormatError},
		"cut question":     {good[:len(good)-1], dns.RcodeFormatError},
		"trailing bytes":   {append(append([]byte{}, good...), 0), dns.RcodeFormatError},
		"pointer in qname": {append(append([]byte{}, good[:12]...), 0xc0, 0x0c, 0, 1, 0, 1), dns.RcodeFormatError},
		"label too long":   {append(append([]byte{}, good[:12]...), 64, 0, 0, 1, 0, 1), dns.RcodeFormatError},
		"arcount beyond":   {func() []byte { b := append([]byte{}, good...); b[11] = 1; return b }(), dns.RcodeFormatError},
	} {
		out := set.Respond(nil, tt.raw, false)
		if tt.rcode < 0 {
			if len(out) != 0 {
				t.Errorf("%s: got a %d-byte response, want none", name, len(out))
			}
			continue
		}
		if len(out) < 12 || int(out[3]&0xf) != tt.rcode || out[0] != tt.raw[0] || out[1] != tt.raw[1] || out[2]&0x80 == 0 {
			t.Errorf("%s: response %x, want rcode %d with the query's ID", name, out, tt.rcode)
		}
	}
}

func TestTCPPipelining(t *testing.T) {
	t.Parallel()
	_, addr := serve(t, testSet(t), Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// 1000 queries (far past miekg/dns's 128 per connection) in one write,
	// including the big answer that needs TCP; answers come back in order.
	const n = 1000
	var buf []byte
	for i := range n {
		m := msg("h1.a.test.", dns.TypeA)
		if i%10 == 0 {
			m = msg("wide.a.test.", dns.TypeAAAA)
		}
		m.Id = uint16(i)
		raw := pack(t, m)
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(raw)))
		buf = append(buf, raw...)
	}
	go c.Write(buf)
	for i := range n {
		var l [2]byte
		if _, err := readFull(c, l[:]); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := readFull(c, b); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		r := unpack(t, b)
		if r.Id != uint16(i) {
			t.Fatalf("answer %d has id %d: out of order", i, r.Id)
		}
		if i%10 == 0 && (r.Truncated || len(r.Answer) != 70) {
			t.Fatalf("answer %d: tc %v with %d RRs, want the full 70 over TCP", i, r.Truncated, len(r.Answer))
		}
	}
}

func TestTruncatedThenTCP(t *testing.T) {
	t.Parallel()
	_, addr := serve(t, testSet(t), Options{})
	raw := pack(t, msg("big.a.test.", dns.TypeA))
	u := unpack(t, exchange(t, "udp", addr, raw, 2*time.Second))
	if !u.Truncated || len(u.Answer) != 0 {
		t.Fatalf("UDP: tc %v with %d RRs, want TC and none", u.Truncated, len(u.Answer))
	}
	r := unpack(t, exchange(t, "tcp", addr, raw, 2*time.Second))
	if r.Truncated || len(r.Answer) != 40 {
		t.Fatalf("TCP: tc %v with %d RRs, want all 40", r.Truncated, len(r.Answer))
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	t.Parallel()
	_, addr := serve(t, testSet(t), Options{TCPIdleTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data from an idle connection")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("idle connection closed after %v, want about 200ms", d)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, addr := serve(t, testSet(t), Options{Registerer: reg})
	for _, q := range []*dns.Msg{msg("h1.a.test.", dns.TypeA), msg("nope.a.test.", dns.TypeA), msg("x.b.test.", dns.TypeA), msg("example.com.", dns.TypeA)} {
		if exchange(t, "udp", addr, pack(t, q), 2*time.Second) == nil {
			t.Fatal("no answer")
		}
	}
	exchange(t, "tcp", addr, pack(t, msg("h1.a.test.", dns.TypeA)), 2*time.Second)
	// Counters are added after a batch's replies are written, so the client
	// may see its answer before they move: poll until they settle.
	type want struct {
		name   string
		labels map[string]string
		n      float64
	}
	wants := []want{
		{"edgesim_dns_zone_queries_total", map[string]string{"zone": "a.test."}, 3},
		{"edgesim_dns_zone_queries_total", map[string]string{"zone": "b.test."}, 1},
		{"edgesim_dns_responses_total", map[string]string{"proto": "udp", "rcode": "NOERROR"}, 2},
		{"edgesim_dns_responses_total", map[string]string{"proto": "udp", "rcode": "NXDOMAIN"}, 1},
		{"edgesim_dns_responses_total", map[string]string{"proto": "udp", "rcode": "REFUSED"}, 1},
		{"edgesim_dns_responses_total", map[string]string{"proto": "tcp", "rcode": "NOERROR"}, 1},
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, w := range wants {
		got := gatherCounter(t, reg, w.name, w.labels)
		for got != w.n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			got = gatherCounter(t, reg, w.name, w.labels)
		}
		if got != w.n {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.n)
		}
	}
}

func gatherCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	base := func() []dns.RR {
		return []dns.RR{rr("example.com. 3600 IN SOA ns.example.com. h.example.com. 1 2 3 4 5"), rr("example.com. 3600 IN NS ns.example.com.")}
	}
	for name, tt := range map[string]struct {
		zones []Zone
		want  string
	}{
		"no SOA":        {[]Zone{{Name: "example.com.", Records: base()[1:]}}, "no SOA at the apex"},
		"no NS":         {[]Zone{{Name: "example.com.", Records: base()[:1]}}, "no NS at the apex"},
		"out of zone":   {[]Zone{{Name: "example.com.", Records: append(base(), rr("example.net. IN A 192.0.2.1"))}}, "outside the zone"},
		"delegation":    {[]Zone{{Name: "example.com.", Records: append(base(), rr("sub.example.com. IN NS ns.example.net."))}}, "delegations"},
		"cname + other": {[]Zone{{Name: "example.com.", Records: append(base(), rr("w.example.com. IN CNAME x.example.com."), rr("w.example.com. IN A 192.0.2.1"))}}, "CNAME and other data"},
		"duplicate":     {[]Zone{{Name: "example.com.", Records: base()}, {Name: "EXAMPLE.com", Records: base()}}, "duplicate zone"},
		"nested data":   {[]Zone{{Name: "example.com.", Records: append(base(), rr("x.sub.example.com. IN A 192.0.2.1"))}, {Name: "sub.example.com.", Records: []dns.RR{rr("sub.example.com. IN SOA a. b. 1 2 3 4 5"), rr("sub.example.com. IN NS a.")}}}, "inside zone"},
		"dname":         {[]Zone{{Name: "example.com.", Records: append(base(), rr("d.example.com. IN DNAME example.net."))}}, "DNAME"},
	} {
		_, err := Build(tt.zones)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.want)
		}
	}
	// Several problems are reported at once.
	_, err := Build([]Zone{{Name: "a.example."}, {Name: "b.example."}})
	if err == nil || strings.Count(err.Error(), "no SOA") != 2 {
		t.Errorf("error %v, want both zones reported", err)
	}
}

func TestZeroSetRefuses(t *testing.T) {
	t.Parallel()
	var nilSet *Set
	for _, s := range []*Set{nilSet, {}} {
		r := ask(t, s, msg("h1.a.test.", dns.TypeA), false)
		if r.Rcode != dns.RcodeRefused {
			t.Errorf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
		}
	}
}

// TestAllocs: the answer path allocates nothing per query.
func TestAllocs(t *testing.T) {
	set := testSet(t)
	var qs [][]byte
	for _, m := range []*dns.Msg{msg("h1.a.test.", dns.TypeA), msg("H2.A.Test.", dns.TypeAAAA), msg("nope.a.test.", dns.TypeA),
		msg("x.wild.a.test.", dns.TypeA), msg("c3.a.test.", dns.TypeA), msg("example.com.", dns.TypeA), msg("big.a.test.", dns.TypeA)} {
		qs = append(qs, pack(t, m))
		m.SetEdns0(1232, true)
		qs = append(qs, pack(t, m))
	}
	dst := make([]byte, 0, 0xffff)
	for _, tcp := range []bool{false, true} {
		i := 0
		if a := testing.AllocsPerRun(1000, func() {
			set.Respond(dst[:0], qs[i%len(qs)], tcp)
			i++
		}); a != 0 {
			t.Errorf("tcp=%v: %v allocations per query, want 0", tcp, a)
		}
	}
}

// TestSwap: queries in flight while the Set is swapped many times all get
// answered, each from one Set or the other.
func TestSwap(t *testing.T) {
	t.Parallel()
	setA := testSet(t)
	texts := testZones(t)
	texts["a.test."] = strings.Replace(texts["a.test."], "h1 IN A 192.0.2.2", "h1 IN A 192.0.2.200", 1)
	setB := buildZones(t, texts)
	srv, addr := serve(t, setA, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	var swaps atomic.Int64
	swapper := make(chan struct{})
	go func() {
		defer close(swapper)
		for i := 0; ctx.Err() == nil; i++ {
			if i%2 == 0 {
				srv.Store(setB)
			} else {
				srv.Store(setA)
			}
			swaps.Add(1)
			time.Sleep(20 * time.Microsecond)
		}
	}()
	const clients, perClient = 4, 500
	var lost, wrong atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			conn, err := net.Dial("udp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			buf := make([]byte, 1500)
			for i := range perClient {
				m := msg("h1.a.test.", dns.TypeA)
				m.Id = uint16(c*perClient + i)
				conn.Write(pack(t, m))
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := conn.Read(buf)
				if err != nil {
					lost.Add(1)
					continue
				}
				r := new(dns.Msg)
				if r.Unpack(buf[:n]) != nil || r.Id != m.Id || len(r.Answer) != 1 {
					wrong.Add(1)
					continue
				}
				if ip := r.Answer[0].(*dns.A).A.String(); ip != "192.0.2.2" && ip != "192.0.2.200" {
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	cancel()
	<-swapper
	t.Logf("%d queries during %d swaps: %d lost, %d wrong", clients*perClient, swaps.Load(), lost.Load(), wrong.Load())
	if lost.Load() != 0 || wrong.Load() != 0 {
		t.Errorf("%d lost, %d wrong answers during swaps", lost.Load(), wrong.Load())
	}
}

// TestDifferencesFromKnot pins down where dnsmap deliberately differs from
// Knot 3.2 (see TestCompareKnot): what dnsmap answers in each case.
func TestDifferencesFromKnot(t *testing.T) {
	t.Parallel()
	set := testSet(t)
	good := pack(t, msg("h1.a.test.", dns.TypeA))
	two := pack(t, func() *dns.Msg {
		m := msg("h1.a.test.", dns.TypeA)
		m.Question = append(m.Question, m.Question[0])
		return m
	}())
	for name, raw := range map[string][]byte{
		"qdcount 2 (knot drops)":            two,
		"unparseable question (knot drops)": append(append([]byte{}, good[:12]...), 0xc0, 0x0c, 0, 1, 0, 1),
	} {
		out := set.Respond(nil, raw, false)
		if len(out) != 12 || out[3]&0xf != dns.RcodeFormatError {
			t.Errorf("%s: %x, want a FORMERR header", name, out)
		}
	}
	m := msg("h1.a.test.", dns.TypeA)
	m.Opcode = dns.OpcodeUpdate
	if r := ask(t, set, m, false); r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("UPDATE: %s, want NOTIMP (knot: FORMERR or an update)", dns.RcodeToString[r.Rcode])
	}
	m = msg("h1.a.test.", dns.TypeA)
	m.SetEdns0(1, false)
	if r := ask(t, set, m, false); r.Rcode != dns.RcodeSuccess {
		t.Errorf("EDNS size 1: %s, want NOERROR (knot: FORMERR)", dns.RcodeToString[r.Rcode])
	}
	m = msg("h1.a.test.", dns.TypeA)
	o := m.SetEdns0(1232, false).IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
	if r := ask(t, set, m, false); len(r.IsEdns0().Option) != 0 {
		t.Errorf("NSID: options %v, want none (knot answers NSID)", r.IsEdns0().Option)
	}
}
