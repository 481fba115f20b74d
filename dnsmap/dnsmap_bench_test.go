package dnsmap

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// benchQueries is the notes/dns.md §5 query mix against the test zones:
// 45% A hit, 20% AAAA hit, 10% AAAA NODATA, 15% NXDOMAIN, 5% wildcard,
// 5% mixed-case hit, all with EDNS.
func benchQueries(b *testing.B) [][]byte {
	rng := rand.New(rand.NewPCG(42, 42))
	var qs [][]byte
	for range 10000 {
		h := rng.IntN(300)
		var m *dns.Msg
		switch p := rng.IntN(100); {
		case p < 45:
			m = msg(fmt.Sprintf("h%d.a.test.", h), dns.TypeA)
		case p < 65:
			m = msg(fmt.Sprintf("h%d.a.test.", h&^1), dns.TypeAAAA)
		case p < 75:
			m = msg(fmt.Sprintf("h%d.a.test.", h|1), dns.TypeAAAA)
		case p < 90:
			m = msg(fmt.Sprintf("nx%d.a.test.", h), dns.TypeA)
		case p < 95:
			m = msg(fmt.Sprintf("w%d.wild.a.test.", h), dns.TypeA)
		default:
			m = msg(strings.ToUpper(fmt.Sprintf("h%d.a.test.", h)), dns.TypeA)
		}
		m.SetEdns0(1232, false)
		qs = append(qs, pack(b, m))
	}
	return qs
}

// BenchmarkRespond is the whole answer path without I/O: parse, look up,
// copy the precomputed answer.
func BenchmarkRespond(b *testing.B) {
	set := testSet(b)
	qs := benchQueries(b)
	dst := make([]byte, 0, 0xffff)
	for _, tc := range []struct {
		name string
		qs   [][]byte
	}{{"mix", qs}, {"hit", qs[:1]}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			start := time.Now()
			for b.Loop() {
				set.Respond(dst[:0], tc.qs[i%len(tc.qs)], false)
				i++
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "queries/s")
		})
	}
}

// benchAnswer is one name of an answer set as node hands it over (see
// node/dns.go answerRecords): addresses, or a CNAME, and TXT strings.
type benchAnswer struct {
	name  string
	a     []netip.Addr
	aaaa  []netip.Addr
	cname string
	txt   []string
}

// benchAnswers returns an answer set of n names in example.net, shaped
// like a proxied zone: every name has an A, even ones an AAAA too, every
// 20th is a CNAME to the next name and every 50th has a TXT record.
func benchAnswers(n int) []benchAnswer {
	out := make([]benchAnswer, n)
	for i := range out {
		a := &out[i]
		a.name = fmt.Sprintf("h%d.example.net.", i)
		if i%20 == 19 {
			a.cname = fmt.Sprintf("h%d.example.net.", (i+1)%n)
			continue
		}
		a.a = []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i%250 + 1)})}
		if i%2 == 0 {
			a.aaaa = []netip.Addr{netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})}
		}
		if i%50 == 0 {
			a.txt = []string{fmt.Sprintf("v=test%d", i)}
		}
	}
	return out
}

// benchZone turns an answer set into zone data the way node does: the
// synthetic SOA and NS records, then each answer's records with TTL 300.
func benchZone(answers []benchAnswer) Zone {
	const apex = "example.net."
	hdr := func(name string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	rrs := []dns.RR{
		&dns.SOA{Hdr: hdr(apex, dns.TypeSOA, 3600), Ns: "ns1." + apex, Mbox: "hostmaster." + apex,
			Serial: 1, Refresh: 10000, Retry: 2400, Expire: 604800, Minttl: 300},
		&dns.NS{Hdr: hdr(apex, dns.TypeNS, 86400), Ns: "ns1." + apex},
		&dns.NS{Hdr: hdr(apex, dns.TypeNS, 86400), Ns: "ns2." + apex},
	}
	for _, a := range answers {
		if a.cname != "" {
			rrs = append(rrs, &dns.CNAME{Hdr: hdr(a.name, dns.TypeCNAME, 300), Target: a.cname})
			continue
		}
		for _, ip := range a.a {
			rrs = append(rrs, &dns.A{Hdr: hdr(a.name, dns.TypeA, 300), A: ip.AsSlice()})
		}
		for _, ip := range a.aaaa {
			rrs = append(rrs, &dns.AAAA{Hdr: hdr(a.name, dns.TypeAAAA, 300), AAAA: ip.AsSlice()})
		}
		for _, t := range a.txt {
			rrs = append(rrs, &dns.TXT{Hdr: hdr(a.name, dns.TypeTXT, 300), Txt: []string{t}})
		}
	}
	return Zone{Name: apex, Records: rrs}
}

// BenchmarkBuild is the whole path from node's answer set to a servable
// Set: records built from the answers, then Build. The zonefile case is a
// 10,000-name zone parsed ahead of time (the bench data set).
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("names=%d", n), func(b *testing.B) {
			answers := benchAnswers(n)
			b.ReportAllocs()
			start := time.Now()
			builds := 0
			for b.Loop() {
				if _, err := Build([]Zone{benchZone(answers)}); err != nil {
					b.Fatal(err)
				}
				builds++
			}
			b.ReportMetric(float64(builds*n)/time.Since(start).Seconds(), "names/s")
		})
	}
	b.Run("zonefile", func(b *testing.B) {
		var sb strings.Builder
		sb.WriteString("$ORIGIN bench.test.\n$TTL 300\n@ 3600 IN SOA ns1 hostmaster 1 10000 2400 604800 1800\n@ IN NS ns1\nns1 IN A 127.0.0.1\n")
		for i := range 10000 {
			fmt.Fprintf(&sb, "h%d IN A 192.0.2.%d\n", i, i%250+1)
			if i%2 == 0 {
				fmt.Fprintf(&sb, "h%d IN AAAA 2001:db8::%x\n", i, i+1)
			}
		}
		z, err := ParseZone(strings.NewReader(sb.String()), "bench.test.", "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		start := time.Now()
		builds := 0
		for b.Loop() {
			if _, err := Build([]Zone{z}); err != nil {
				b.Fatal(err)
			}
			builds++
		}
		b.ReportMetric(float64(builds*10000)/time.Since(start).Seconds(), "names/s")
	})
}
