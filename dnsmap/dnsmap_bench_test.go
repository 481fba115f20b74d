package dnsmap

import (
	"fmt"
	"math/rand/v2"
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

// BenchmarkBuild compiles a 10,000-name zone (the bench data set size).
func BenchmarkBuild(b *testing.B) {
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
	for b.Loop() {
		if _, err := Build([]Zone{z}); err != nil {
			b.Fatal(err)
		}
	}
}
