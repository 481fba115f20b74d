package registry

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	tokenV4 = "1234a5b6-1234-1abc-12a3-1234a5b6789c"
	tokenV6 = "6d0c5f8e-0000-4000-8000-000000000001"
)

func newValidator(t *testing.T, opts Options) *Validator {
	t.Helper()
	v, err := New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", opts, err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func TestIRRStates(t *testing.T) {
	t.Parallel()
	v := newValidator(t, Options{IRRFiles: []string{"testdata/irr.rpsl"}})
	tests := []struct {
		prefix string
		asn    uint32
		want   State
	}{
		{"192.0.2.0/24", 64496, StateValid},
		{"192.0.2.0/24", 64499, StateMismatchASN},
		{"198.51.100.0/24", 64497, StateValid},    // upper-case names, "as" origin
		{"198.51.100.0/25", 64497, StateMissing},  // only a covering object
		{"203.0.113.0/24", 64496, StateMissing},   // only more-specific objects
		{"203.0.113.0/25", 64496, StateInvalid},   // no origin
		{"203.0.113.128/25", 64496, StateInvalid}, // bad origin
		{"2001:db8::/32", 64496, StateValid},
		{"2001:db8:1::/48", 64496, StateMismatchASN}, // two objects, other origins
		{"2001:db8:1::/48", 64498, StateValid},
		{"2001:db8:2::/48", 64496, StateValid},   // malformed + good: good wins
		{"2001:db8:2::/48", 64497, StateInvalid}, // malformed beats mismatch
		{"192.0.2.128/25", 64496, StateInvalid},  // route6 class for v4
		{"2001:db8:3::/48", 64496, StateInvalid}, // syntax error in the object
		{"2001:db8:4::/48", 64496, StateMissing},
	}
	for _, tt := range tests {
		got, err := v.Validate(t.Context(), netip.MustParsePrefix(tt.prefix), tt.asn, "t")
		if err != nil {
			t.Fatalf("Validate(%s, AS%d) error = %v", tt.prefix, tt.asn, err)
		}
		if got.IRR != tt.want {
			t.Errorf("Validate(%s, AS%d).IRR = %s, want %s", tt.prefix, tt.asn, got.IRR, tt.want)
		}
	}
}

func TestRPKIStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix string
		asn    uint32
		want   State
	}{
		{"192.0.2.0/24", 64496, StateValid},
		{"192.0.2.0/24", 64499, StateMismatchASN},
		{"198.51.100.0/24", 64496, StateValid},
		{"198.51.100.0/25", 64496, StateInvalid},       // maxLength 24 too short
		{"198.51.100.128/25", 64499, StateMismatchASN}, // covered, other ASN
		{"203.0.113.0/24", 64496, StateMissing},        // only more-specific VRPs
		{"203.0.113.0/25", 64496, StateMismatchASN},
		{"203.0.113.0/25", 64497, StateValid},
		{"203.0.113.128/25", 64496, StateInvalid}, // AS0
		{"203.0.113.128/25", 0, StateInvalid},     // AS0 never validates
		{"2001:db8::/32", 64496, StateMissing},
		{"2001:db8:100::/40", 64496, StateValid},
		{"2001:db8:1ff::/48", 64496, StateValid}, // inside the /40, within maxLength
		{"2001:db8:100::/56", 64496, StateInvalid},
		{"2001:db8:100::/48", 64499, StateMismatchASN},
		{"2001:db8:200::/48", 64497, StateInvalid}, // maxLength 40
		{"2001:db8:200::/48", 64496, StateMismatchASN},
	}
	for _, file := range []string{"testdata/roas.json", "testdata/vrps-stayrtr.json"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			v := newValidator(t, Options{ROAFile: file})
			for _, tt := range tests {
				got, err := v.Validate(t.Context(), netip.MustParsePrefix(tt.prefix), tt.asn, "t")
				if err != nil {
					t.Fatalf("Validate(%s, AS%d) error = %v", tt.prefix, tt.asn, err)
				}
				if got.RPKI != tt.want {
					t.Errorf("Validate(%s, AS%d).RPKI = %s, want %s", tt.prefix, tt.asn, got.RPKI, tt.want)
				}
			}
		})
	}
}

func TestNoSourcesIsMissing(t *testing.T) {
	t.Parallel()
	v := newValidator(t, Options{})
	got, err := v.Validate(t.Context(), netip.MustParsePrefix("192.0.2.0/24"), 64496, tokenV4)
	want := Result{IRR: StateMissing, RPKI: StateMissing, Ownership: StateMissing}
	if err != nil || got != want {
		t.Fatalf("Validate() = (%+v, %v), want (%+v, nil)", got, err, want)
	}
	if got.Valid() {
		t.Errorf("Result.Valid() = true for %+v", got)
	}
}

func TestValidateAllValid(t *testing.T) {
	t.Parallel()
	v := newValidator(t, Options{IRRFiles: []string{"testdata/irr.rpsl"}, ROAFile: "testdata/roas.json"})
	got, err := v.Validate(t.Context(), netip.MustParsePrefix("192.0.2.0/24"), 64496, tokenV4)
	if err != nil || !got.Valid() {
		t.Fatalf("Validate() = (%+v, %v), want all valid", got, err)
	}
}

func TestValidateBadPrefix(t *testing.T) {
	t.Parallel()
	v := newValidator(t, Options{})
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("::ffff:192.0.2.0/120")} {
		if _, err := v.Validate(t.Context(), p, 64496, "t"); err == nil {
			t.Errorf("Validate(%s) error = nil, want error", p)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"roas":[{"prefix":"192.0.2.0/24","asn":"x"}]}`)
	for _, opts := range []Options{
		{IRRFiles: []string{filepath.Join(dir, "missing.rpsl")}},
		{ROAFile: filepath.Join(dir, "missing.json")},
		{ROAFile: bad},
	} {
		if v, err := New(t.Context(), opts); err == nil {
			v.Close()
			t.Errorf("New(%+v) error = nil, want error", opts)
		}
	}
	_, err := New(t.Context(), Options{ROAFile: filepath.Join(dir, "missing.json")})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New(missing file) error = %v, want wrapping os.ErrNotExist", err)
	}
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	irr := filepath.Join(dir, "irr.rpsl")
	roa := filepath.Join(dir, "roas.json")
	writeFile(t, irr, "route: 192.0.2.0/24\norigin: AS64496\n")
	writeFile(t, roa, `{"roas":[{"prefix":"192.0.2.0/24","maxLength":24,"asn":64496}]}`)
	v := newValidator(t, Options{IRRFiles: []string{irr}, ROAFile: roa})
	p := netip.MustParsePrefix("192.0.2.0/24")
	check := func(wantIRR, wantRPKI State) {
		t.Helper()
		got, err := v.Validate(t.Context(), p, 64496, "t")
		if err != nil || got.IRR != wantIRR || got.RPKI != wantRPKI {
			t.Fatalf("Validate() = (%+v, %v), want IRR %s RPKI %s", got, err, wantIRR, wantRPKI)
		}
	}
	check(StateValid, StateValid)

	// A changed size is noticed without calling Reload.
	writeFile(t, irr, "route: 192.0.2.0/24\norigin: AS64497\n\n")
	writeFile(t, roa, `{"roas":[{"prefix":"192.0.2.0/24","maxLength":24,"asn":"AS64497"}]}`)
	check(StateMismatchASN, StateMismatchASN)

	// A broken file is an error, and Reload keeps the last good data.
	writeFile(t, roa, `{"roas":[`)
	if _, err := v.Validate(t.Context(), p, 64496, "t"); err == nil {
		t.Fatal("Validate() with a broken roa file: error = nil, want error")
	}
	if err := v.Reload(); err == nil {
		t.Fatal("Reload() with a broken roa file: error = nil, want error")
	}
	if got := v.data.Load().roas; len(got) != 1 {
		t.Fatalf("after failed reload roas = %v, want the previous set", got)
	}
	writeFile(t, roa, `{"roas":[{"prefix":"192.0.2.0/24","maxLength":24,"asn":64496}]}`)
	if err := v.Reload(); err != nil {
		t.Fatalf("Reload() error = %v", err)
	}
	check(StateMismatchASN, StateValid)
}

func TestReverseZones(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"192.0.2.0/24", []string{"2.0.192.in-addr.arpa."}},
		{"127.0.0.0/23", []string{"0.0.127.in-addr.arpa.", "1.0.127.in-addr.arpa."}},
		{"127.0.4.0/22", []string{"4.0.127.in-addr.arpa.", "5.0.127.in-addr.arpa.", "6.0.127.in-addr.arpa.", "7.0.127.in-addr.arpa."}},
		{"127.1.0.0/16", []string{"1.127.in-addr.arpa."}},
		{"127.0.0.0/8", []string{"127.in-addr.arpa."}},
		{"192.0.2.1/24", []string{"2.0.192.in-addr.arpa."}}, // host bits ignored
		{"192.0.2.4/31", []string{"4.2.0.192.in-addr.arpa.", "5.2.0.192.in-addr.arpa."}},
		{"2001:db8::/32", []string{"8.b.d.0.1.0.0.2.ip6.arpa."}},
		{"2001:db8:1::/48", []string{"1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."}},
		{"2001:db8:a000::/36", []string{"a.8.b.d.0.1.0.0.2.ip6.arpa."}},
		{"2001:db8::/34", []string{
			"0.8.b.d.0.1.0.0.2.ip6.arpa.", "1.8.b.d.0.1.0.0.2.ip6.arpa.",
			"2.8.b.d.0.1.0.0.2.ip6.arpa.", "3.8.b.d.0.1.0.0.2.ip6.arpa.",
		}},
		{"2001:db8:c000::/34", []string{
			"c.8.b.d.0.1.0.0.2.ip6.arpa.", "d.8.b.d.0.1.0.0.2.ip6.arpa.",
			"e.8.b.d.0.1.0.0.2.ip6.arpa.", "f.8.b.d.0.1.0.0.2.ip6.arpa.",
		}},
		{"2001:db8:fffe::/47", []string{"e.f.f.f.8.b.d.0.1.0.0.2.ip6.arpa.", "f.f.f.f.8.b.d.0.1.0.0.2.ip6.arpa."}},
		{"::ffff:192.0.2.0/120", nil},
	}
	for _, tt := range tests {
		if got := ReverseZones(netip.MustParsePrefix(tt.in)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ReverseZones(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := ReverseZones(netip.Prefix{}); got != nil {
		t.Errorf("ReverseZones(invalid) = %q, want nil", got)
	}
	// Counts at the extremes: a v4 /25 needs 128 /32 zones, a v6 /33 8 /36 zones.
	if got := ReverseZones(netip.MustParsePrefix("192.0.2.0/25")); len(got) != 128 || got[127] != "127.2.0.192.in-addr.arpa." {
		t.Errorf("ReverseZones(192.0.2.0/25) = %d zones ending %q, want 128 ending 127.2.0.192.in-addr.arpa.", len(got), got[len(got)-1])
	}
	if got := ReverseZones(netip.MustParsePrefix("2001:db8::/33")); len(got) != 8 {
		t.Errorf("ReverseZones(2001:db8::/33) = %d zones, want 8", len(got))
	}
}

// dnsFake serves TXT records from a map; names in servfail answer SERVFAIL.
type dnsFake struct {
	txt      map[string][]string
	servfail map[string]bool
}

func (f *dnsFake) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	switch {
	case f.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case q.Qtype == dns.TypeTXT && f.txt[name] != nil:
		for _, s := range f.txt[name] {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{s},
			})
		}
	default:
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// startDNS serves f on a 127.0.0.1:0 UDP socket until the test ends.
func startDNS(t *testing.T, f *dnsFake) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: f, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestOwnershipStates(t *testing.T) {
	t.Parallel()
	const tok = "0b5e0c4a-1111-4222-8333-444455556666"
	addr := startDNS(t, &dnsFake{
		txt: map[string][]string{
			// 127.0.0.0/23: both zones carry the token (one with extra records).
			"cf-validation.0.0.127.in-addr.arpa.": {tok},
			"cf-validation.1.0.127.in-addr.arpa.": {"unrelated", "cf-validation=" + tok},
			// 127.0.2.0/23: one zone lacks the record.
			"cf-validation.2.0.127.in-addr.arpa.": {tok},
			// 127.0.4.0/23: one zone has a wrong token.
			"cf-validation.4.0.127.in-addr.arpa.": {tok},
			"cf-validation.5.0.127.in-addr.arpa.": {"wrong"},
			// 2001:db8::/34: all four /36 zones.
			"cf-validation.0.8.b.d.0.1.0.0.2.ip6.arpa.": {tok},
			"cf-validation.1.8.b.d.0.1.0.0.2.ip6.arpa.": {tok},
			"cf-validation.2.8.b.d.0.1.0.0.2.ip6.arpa.": {tok},
			"cf-validation.3.8.b.d.0.1.0.0.2.ip6.arpa.": {tok},
			// 2001:db8:4000::/34: three of four.
			"cf-validation.4.8.b.d.0.1.0.0.2.ip6.arpa.": {tok},
			"cf-validation.5.8.b.d.0.1.0.0.2.ip6.arpa.": {tok},
			"cf-validation.6.8.b.d.0.1.0.0.2.ip6.arpa.": {tok},
		},
		servfail: map[string]bool{"cf-validation.100.51.198.in-addr.arpa.": true},
	})
	withDNS := newValidator(t, Options{IRRFiles: []string{"testdata/irr.rpsl"}, DNSServer: addr, Timeout: time.Second})
	noDNS := newValidator(t, Options{IRRFiles: []string{"testdata/irr.rpsl"}})
	tests := []struct {
		name   string
		v      *Validator
		prefix string
		token  string
		want   State
	}{
		{"irr remarks", noDNS, "192.0.2.0/24", tokenV4, StateValid},
		{"irr continuation", noDNS, "2001:db8::/32", tokenV6, StateValid},
		{"irr other token, no dns", noDNS, "192.0.2.0/24", tok, StateInvalid},
		{"irr wrong token in continued remarks", noDNS, "203.0.113.128/25", tok, StateInvalid},
		{"no records, no dns", noDNS, "2001:db8:1::/48", tok, StateMissing},
		{"empty token", noDNS, "192.0.2.0/24", "", StateInvalid},
		{"empty token with dns", withDNS, "127.0.0.0/23", "", StateInvalid},
		{"dns all zones", withDNS, "127.0.0.0/23", tok, StateValid},
		{"dns one zone missing", withDNS, "127.0.2.0/23", tok, StateInvalid},
		{"dns one zone wrong", withDNS, "127.0.4.0/23", tok, StateInvalid},
		{"dns nothing", withDNS, "127.0.6.0/23", tok, StateMissing},
		{"dns v6 all four zones", withDNS, "2001:db8::/34", tok, StateValid},
		{"dns v6 three of four", withDNS, "2001:db8:4000::/34", tok, StateInvalid},
		{"irr wins over dns", withDNS, "192.0.2.0/24", tokenV4, StateValid},
		{"irr wrong token, dns missing", withDNS, "192.0.2.0/24", tok, StateInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.v.Validate(t.Context(), netip.MustParsePrefix(tt.prefix), 64496, tt.token)
			if err != nil {
				t.Fatalf("Validate(%s, %q) error = %v", tt.prefix, tt.token, err)
			}
			if got.Ownership != tt.want {
				t.Errorf("Validate(%s, %q).Ownership = %s, want %s", tt.prefix, tt.token, got.Ownership, tt.want)
			}
		})
	}
}

func TestOwnershipDNSErrors(t *testing.T) {
	t.Parallel()
	addr := startDNS(t, &dnsFake{servfail: map[string]bool{"cf-validation.100.51.198.in-addr.arpa.": true}})
	v := newValidator(t, Options{DNSServer: addr, Timeout: time.Second})
	if _, err := v.Validate(t.Context(), netip.MustParsePrefix("198.51.100.0/24"), 64496, "t"); err == nil || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Errorf("Validate(SERVFAIL zone) error = %v, want SERVFAIL error", err)
	}

	// A server that never answers: an error after Timeout, not a state.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	silent := newValidator(t, Options{DNSServer: pc.LocalAddr().String(), Timeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := silent.Validate(ctx, netip.MustParsePrefix("192.0.2.0/24"), 64496, "t"); err == nil {
		t.Error("Validate(silent dns) error = nil, want timeout error")
	}
}
