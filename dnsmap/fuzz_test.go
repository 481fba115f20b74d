package dnsmap

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzQuery: any packet either gets no response (only when it has no
// parseable header or is itself a response) or a well-formed response
// carrying the query's ID: FORMERR, or a valid answer.
func FuzzQuery(f *testing.F) {
	set := testSet(f)
	for _, m := range []*dns.Msg{msg("h1.a.test.", dns.TypeA), msg("Foo.Wild.a.test.", dns.TypeAAAA), msg("nope.a.test.", dns.TypeA), msg("example.com.", dns.TypeA)} {
		f.Add(pack(f, m), false)
		m.SetEdns0(1232, true)
		f.Add(pack(f, m), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, tcp bool) {
		out := set.Respond(nil, b, tcp)
		if len(out) == 0 {
			if len(b) >= 12 && b[2]&0x80 == 0 {
				t.Fatalf("no response to a query with a header: %x", b)
			}
			return
		}
		if len(b) < 12 || b[2]&0x80 != 0 {
			t.Fatalf("responded to a non-query %x", b)
		}
		r := new(dns.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatalf("response %x to %x does not parse: %v", out, b, err)
		}
		if !r.Response || out[0] != b[0] || out[1] != b[1] {
			t.Fatalf("response %x to %x: not a response with the query's ID", out, b)
		}
		if !tcp && len(out) > DefaultUDPSize {
			t.Fatalf("%d-byte UDP response", len(out))
		}
	})
}
