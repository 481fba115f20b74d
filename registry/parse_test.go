package registry

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var rpslTests = []struct {
	name    string
	in      string
	want    []Object // Err compared by nil-ness only
	wantErr []bool
}{
	{
		name: "empty",
		in:   "",
	},
	{
		name: "one object",
		in:   "route: 192.0.2.0/24\norigin: AS64496\n",
		want: []Object{{Line: 1, Attrs: []Attr{{"route", "192.0.2.0/24"}, {"origin", "AS64496"}}}},
	},
	{
		name: "blank and whitespace-only lines separate, crlf, comments",
		in:   "% whois header\r\nroute: 192.0.2.0/24\r\n# comment\r\norigin: AS64496\r\n \t\r\nroute6: 2001:db8::/32\norigin: AS64497 # trailing\n\n\n",
		want: []Object{
			{Line: 2, Attrs: []Attr{{"route", "192.0.2.0/24"}, {"origin", "AS64496"}}},
			{Line: 6, Attrs: []Attr{{"route6", "2001:db8::/32"}, {"origin", "AS64497"}}},
		},
		wantErr: []bool{false, false},
	},
	{
		name: "case-insensitive names and continuations",
		in:   "ROUTE: 192.0.2.0/24\nDescr: first\n  second\n+ third\n+\n\tfourth\nRemarks:\n cf-validation: tok\n",
		want: []Object{{Line: 1, Attrs: []Attr{
			{"route", "192.0.2.0/24"},
			{"descr", "first second third fourth"},
			{"remarks", "cf-validation: tok"},
		}}},
	},
	{
		name:    "malformed line keeps the object",
		in:      "route: 192.0.2.0/24\nno colon here\norigin: AS64496\n",
		want:    []Object{{Line: 1, Attrs: []Attr{{"route", "192.0.2.0/24"}, {"origin", "AS64496"}}}},
		wantErr: []bool{true},
	},
	{
		name:    "leading continuation",
		in:      " stray\nroute: 192.0.2.0/24\n",
		want:    []Object{{Line: 2, Attrs: []Attr{{"route", "192.0.2.0/24"}}}},
		wantErr: []bool{true},
	},
	{
		name: "bad attribute name",
		in:   "ro ute: 192.0.2.0/24\n\n: empty\n",
		want: nil,
	},
	{
		name: "value with colons",
		in:   "route6: 2001:db8::/32\n",
		want: []Object{{Line: 1, Attrs: []Attr{{"route6", "2001:db8::/32"}}}},
	},
}

func TestParseRPSL(t *testing.T) {
	t.Parallel()
	for _, tt := range rpslTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ParseRPSL([]byte(tt.in))
			if len(got) != len(tt.want) {
				t.Fatalf("ParseRPSL(%q) = %d objects %+v, want %d", tt.in, len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i].Line != tt.want[i].Line || !reflect.DeepEqual(got[i].Attrs, tt.want[i].Attrs) {
					t.Errorf("object %d = line %d %q, want line %d %q", i, got[i].Line, got[i].Attrs, tt.want[i].Line, tt.want[i].Attrs)
				}
				wantErr := i < len(tt.wantErr) && tt.wantErr[i]
				if (got[i].Err != nil) != wantErr {
					t.Errorf("object %d Err = %v, want error %v", i, got[i].Err, wantErr)
				}
			}
		})
	}
}

func TestRouteOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		ok      bool
		prefix  string
		origin  uint32
		tokens  []string
		wantErr bool
	}{
		{in: "route: 192.0.2.0/24\norigin: AS64496", ok: true, prefix: "192.0.2.0/24", origin: 64496},
		{in: "route6: 2001:db8::/32\norigin: as64496\nremarks: cf-validation:tok1\ndescr: x cf-validation = tok2 y", ok: true, prefix: "2001:db8::/32", origin: 64496, tokens: []string{"tok1", "tok2"}},
		{in: "route: 192.0.2.0/24\norigin: AS1.10", ok: true, prefix: "192.0.2.0/24", origin: 1<<16 | 10},
		{in: "route: 192.0.2.0/24", ok: true, prefix: "192.0.2.0/24", wantErr: true},
		{in: "route: 192.0.2.0/24\norigin: 64496", ok: true, prefix: "192.0.2.0/24", wantErr: true},
		{in: "route: 192.0.2.0/24\norigin: AS4294967296", ok: true, prefix: "192.0.2.0/24", wantErr: true},
		{in: "route: 192.0.2.0/24\norigin: AS1\norigin: AS2", ok: true, prefix: "192.0.2.0/24", origin: 0, wantErr: true},
		{in: "route: 192.0.2.1/24\norigin: AS64496", ok: true, prefix: "192.0.2.0/24", origin: 64496, wantErr: true},
		{in: "route: 2001:db8::/32\norigin: AS64496", ok: true, prefix: "2001:db8::/32", origin: 64496, wantErr: true},
		{in: "route6: ::ffff:192.0.2.0/120\norigin: AS64496", ok: true, prefix: "::ffff:192.0.2.0/120", origin: 64496, wantErr: true},
		{in: "route: 192.0.2.0/24\nroute: 198.51.100.0/24\norigin: AS64496", ok: true, prefix: "192.0.2.0/24", origin: 64496, wantErr: true},
		{in: "route: not-a-prefix\norigin: AS64496", ok: false},
		{in: "aut-num: AS64496", ok: false},
	}
	for _, tt := range tests {
		objs := ParseRPSL([]byte(tt.in))
		if len(objs) != 1 {
			t.Fatalf("ParseRPSL(%q) = %d objects, want 1", tt.in, len(objs))
		}
		r, ok := routeOf(objs[0])
		if ok != tt.ok {
			t.Errorf("routeOf(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if r.prefix != netip.MustParsePrefix(tt.prefix) || r.origin != tt.origin || !reflect.DeepEqual(r.tokens, tt.tokens) || (r.err != nil) != tt.wantErr {
			t.Errorf("routeOf(%q) = {%s AS%d %q err=%v}, want {%s AS%d %q err=%v}", tt.in, r.prefix, r.origin, r.tokens, r.err, tt.prefix, tt.origin, tt.tokens, tt.wantErr)
		}
	}
}

var roaJSONTests = []struct {
	name    string
	in      string
	want    []VRP
	wantErr string // substring; "" means success
}{
	{
		name: "rpki-client numeric asn",
		in:   `{"metadata":{"generated":1},"roas":[{"asn":64496,"prefix":"192.0.2.0/24","maxLength":24,"ta":"test","expires":2}]}`,
		want: []VRP{{netip.MustParsePrefix("192.0.2.0/24"), 24, 64496}},
	},
	{
		name: "stayrtr string asn",
		in:   `{"roas":[{"prefix":"2001:db8::/32","maxLength":48,"asn":"AS64496","ta":"test"},{"prefix":"198.51.100.0/24","asn":"as64497"}]}`,
		want: []VRP{
			{netip.MustParsePrefix("2001:db8::/32"), 48, 64496},
			{netip.MustParsePrefix("198.51.100.0/24"), 24, 64497},
		},
	},
	{
		name: "bare array and AS0",
		in:   `[{"prefix":"203.0.113.0/24","maxLength":24,"asn":"AS0"}]`,
		want: []VRP{{netip.MustParsePrefix("203.0.113.0/24"), 24, 0}},
	},
	{name: "empty roas", in: `{"roas":[]}`, want: []VRP{}},
	{name: "no roas", in: `{"metadata":{}}`, wantErr: `no "roas" array`},
	{name: "not json", in: `roas`, wantErr: "decoding roa json"},
	{name: "trailing data", in: `{"roas":[]} {}`, wantErr: "trailing data"},
	{name: "bad prefix", in: `{"roas":[{"prefix":"192.0.2.0/33","asn":1}]}`, wantErr: "roas[0]: parsing prefix"},
	{name: "host bits", in: `{"roas":[{"prefix":"192.0.2.1/24","asn":1}]}`, wantErr: "host bits"},
	{name: "maxLength short", in: `{"roas":[{"prefix":"192.0.2.0/24","maxLength":23,"asn":1}]}`, wantErr: "maxLength 23 out of range"},
	{name: "maxLength long", in: `{"roas":[{"prefix":"192.0.2.0/24","maxLength":33,"asn":1}]}`, wantErr: "maxLength 33 out of range"},
	{name: "maxLength string", in: `{"roas":[{"prefix":"192.0.2.0/24","maxLength":"24","asn":1}]}`, wantErr: "parsing maxLength"},
	{name: "asn negative", in: `{"roas":[{"prefix":"192.0.2.0/24","asn":-1}]}`, wantErr: "parsing asn"},
	{name: "asn too big", in: `{"roas":[{"prefix":"192.0.2.0/24","asn":"AS4294967296"}]}`, wantErr: "parsing asn"},
	{name: "asn missing", in: `{"roas":[{"prefix":"192.0.2.0/24"}]}`, wantErr: "missing asn"},
	{name: "mapped", in: `{"roas":[{"prefix":"::ffff:192.0.2.0/120","asn":1}]}`, wantErr: "IPv4-mapped"},
	{name: "reports several", in: `{"roas":[{"prefix":"x","asn":1},{"prefix":"192.0.2.0/24","asn":"y"}]}`, wantErr: "roas[1]: parsing asn"},
}

func TestParseROAJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range roaJSONTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseROAJSON([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseROAJSON(%s) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseROAJSON(%s) = (%v, %v), want (%v, nil)", tt.in, got, err, tt.want)
			}
		})
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

var pduTests = []struct {
	name    string
	in      []byte
	want    PDU
	wantErr bool
	short   bool // want ErrShortPDU
}{
	{name: "serial notify", in: mustHex("01 00 1234 0000000c 00000007"), want: PDU{Version: 1, Type: PDUSerialNotify, SessionID: 0x1234, Serial: 7}},
	{name: "serial query", in: mustHex("01 01 1234 0000000c 00000007"), want: PDU{Version: 1, Type: PDUSerialQuery, SessionID: 0x1234, Serial: 7}},
	{name: "reset query", in: mustHex("01 02 0000 00000008"), want: PDU{Version: 1, Type: PDUResetQuery}},
	{name: "cache response", in: mustHex("00 03 abcd 00000008"), want: PDU{Version: 0, Type: PDUCacheResponse, SessionID: 0xabcd}},
	{name: "ipv4 prefix", in: mustHex("01 04 0000 00000014 01 18 18 00 c0000200 0000fbf0"),
		want: PDU{Version: 1, Type: PDUIPv4Prefix, Flags: 1, VRP: VRP{netip.MustParsePrefix("192.0.2.0/24"), 24, 64496}}},
	{name: "ipv4 withdraw host bits masked", in: mustHex("01 04 0000 00000014 00 18 19 00 c0000201 0000fbf0"),
		want: PDU{Version: 1, Type: PDUIPv4Prefix, Flags: 0, VRP: VRP{netip.MustParsePrefix("192.0.2.0/24"), 25, 64496}}},
	{name: "ipv6 prefix", in: mustHex("01 06 0000 00000020 01 20 30 00 20010db8000000000000000000000000 0000fbf0"),
		want: PDU{Version: 1, Type: PDUIPv6Prefix, Flags: 1, VRP: VRP{netip.MustParsePrefix("2001:db8::/32"), 48, 64496}}},
	{name: "end of data v1", in: mustHex("01 07 1234 00000018 00000009 00000e10 00000258 00001c20"),
		want: PDU{Version: 1, Type: PDUEndOfData, SessionID: 0x1234, Serial: 9, Refresh: 3600, Retry: 600, Expire: 7200}},
	{name: "end of data v0", in: mustHex("00 07 1234 0000000c 00000009"), want: PDU{Version: 0, Type: PDUEndOfData, SessionID: 0x1234, Serial: 9}},
	{name: "cache reset", in: mustHex("01 08 0000 00000008"), want: PDU{Version: 1, Type: PDUCacheReset}},
	{name: "error report", in: mustHex("00 0a 0004 0000001c 00000008 01020000 00000008 00000004 76657273"),
		want: PDU{Version: 0, Type: PDUErrorReport, ErrorCode: 4, ErrPDU: mustHex("0102000000000008"), ErrText: "vers"}},
	{name: "router key opaque", in: mustHex("01 09 0100 0000000c deadbeef"), want: PDU{Version: 1, Type: PDURouterKey, Header2: 0x0100, Body: mustHex("deadbeef")}},
	{name: "empty", in: nil, short: true},
	{name: "short header", in: mustHex("01 04 0000"), short: true},
	{name: "short body", in: mustHex("01 04 0000 00000014 01 18 18 00"), short: true},
	{name: "length below header", in: mustHex("01 02 0000 00000004"), wantErr: true},
	{name: "length huge", in: mustHex("01 0a 0000 7fffffff"), wantErr: true},
	{name: "wrong fixed length", in: mustHex("01 02 0000 0000000c 00000000"), wantErr: true},
	{name: "v1 end of data with v0 length", in: mustHex("01 07 1234 0000000c 00000009"), wantErr: true},
	{name: "prefix length > 32", in: mustHex("01 04 0000 00000014 01 21 21 00 c0000200 0000fbf0"), wantErr: true},
	{name: "maxlen < len", in: mustHex("01 04 0000 00000014 01 18 10 00 c0000200 0000fbf0"), wantErr: true},
	{name: "ipv6 maxlen > 128", in: mustHex("01 06 0000 00000020 01 20 81 00 20010db8000000000000000000000000 0000fbf0"), wantErr: true},
	{name: "error report pdu len overflow", in: mustHex("00 0a 0004 00000010 ffffffff 00000000"), wantErr: true},
	{name: "error report text len wrong", in: mustHex("00 0a 0004 00000012 00000000 00000005 7665"), wantErr: true},
	{name: "error report too short", in: mustHex("00 0a 0004 0000000a 0000"), wantErr: true},
}

func TestParsePDU(t *testing.T) {
	t.Parallel()
	for _, tt := range pduTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, n, err := ParsePDU(tt.in)
			switch {
			case tt.short:
				if !errors.Is(err, ErrShortPDU) {
					t.Fatalf("ParsePDU(%x) error = %v, want ErrShortPDU", tt.in, err)
				}
				return
			case tt.wantErr:
				if err == nil || errors.Is(err, ErrShortPDU) {
					t.Fatalf("ParsePDU(%x) = (%+v, %v), want a corrupt-pdu error", tt.in, got, err)
				}
				return
			}
			if err != nil || n != len(tt.in) || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParsePDU(%x) = (%+v, %d, %v), want (%+v, %d, nil)", tt.in, got, n, err, tt.want, len(tt.in))
			}
			// Round trip: encoding and parsing again gives the same PDU.
			again, _, err := ParsePDU(AppendPDU(nil, got))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("ParsePDU(AppendPDU(%+v)) = (%+v, %v)", got, again, err)
			}
		})
	}
}

func TestParsePDUTrailingBytes(t *testing.T) {
	t.Parallel()
	b := AppendPDU(nil, PDU{Version: 1, Type: PDUResetQuery})
	b = AppendPDU(b, PDU{Version: 1, Type: PDUCacheReset})
	p, n, err := ParsePDU(b)
	if err != nil || n != 8 || p.Type != PDUResetQuery {
		t.Fatalf("ParsePDU(two pdus) = (%+v, %d, %v), want reset query of 8 bytes", p, n, err)
	}
	p, n, err = ParsePDU(b[n:])
	if err != nil || n != 8 || p.Type != PDUCacheReset {
		t.Fatalf("ParsePDU(second) = (%+v, %d, %v), want cache reset of 8 bytes", p, n, err)
	}
}
