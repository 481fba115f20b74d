package anyip

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// u32 and u16 encode in the host's byte order, as netlink does.
func u32(v uint32) []byte { return ne.AppendUint32(nil, v) }
func u16(v uint16) []byte { return ne.AppendUint16(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestRouteRequest checks the bytes of a route request against a
// hand-written encoding, then decodes them back.
func TestRouteRequest(t *testing.T) {
	t.Parallel()
	p := netip.MustParsePrefix("203.0.113.0/24")
	got := routeRequest(unix.RTM_NEWROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE, 7, p, 1)
	want := cat(
		u32(16+12+8+8+8), u16(unix.RTM_NEWROUTE), u16(unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE), u32(7), u32(0),
		[]byte{unix.AF_INET, 24, 0, 0, 255, 237, unix.RT_SCOPE_HOST, unix.RTN_LOCAL, 0, 0, 0, 0},
		u16(8), u16(unix.RTA_DST), []byte{203, 0, 113, 0},
		u16(8), u16(unix.RTA_TABLE), u32(255),
		u16(8), u16(unix.RTA_OIF), u32(1),
	)
	if !bytes.Equal(got, want) {
		t.Fatalf("routeRequest =\n% x\nwant\n% x", got, want)
	}

	tests := []struct {
		p   netip.Prefix
		oif uint32
	}{
		{p, 1},
		{netip.MustParsePrefix("2001:db8:100::/48"), 1},
		{netip.MustParsePrefix("192.0.2.7/32"), 0},
		{netip.MustParsePrefix("2001:db8::1/128"), 4242},
	}
	for _, tt := range tests {
		msgs, err := parseMessages(routeRequest(unix.RTM_DELROUTE, unix.NLM_F_REQUEST, 9, tt.p, tt.oif))
		if err != nil || len(msgs) != 1 {
			t.Fatalf("parseMessages(routeRequest(%s)) = %d messages, %v; want 1", tt.p, len(msgs), err)
		}
		m := msgs[0]
		if m.typ != unix.RTM_DELROUTE || m.seq != 9 || m.flags != unix.NLM_F_REQUEST {
			t.Errorf("%s: header type %d seq %d flags %#x, want %d 9 %#x", tt.p, m.typ, m.seq, m.flags, unix.RTM_DELROUTE, unix.NLM_F_REQUEST)
		}
		r, ok, err := parseRoute(m.data)
		wantR := route{prefix: tt.p, table: unix.RT_TABLE_LOCAL, protocol: Proto, typ: unix.RTN_LOCAL, oif: tt.oif}
		if err != nil || !ok || r != wantR || !r.owned() {
			t.Errorf("parseRoute(routeRequest(%s)) = %+v, %v, %v; want %+v, owned", tt.p, r, ok, err, wantR)
		}
	}
}

// TestDumpRequests checks the dump requests' headers and bodies.
func TestDumpRequests(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		b       []byte
		typ     uint16
		bodyLen int
	}{
		{"routes", routeDumpRequest(3, unix.AF_INET6), unix.RTM_GETROUTE, unix.SizeofRtMsg},
		{"links", linkDumpRequest(4), unix.RTM_GETLINK, unix.SizeofIfInfomsg},
	} {
		msgs, err := parseMessages(tt.b)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s: parseMessages = %d messages, %v; want 1", tt.name, len(msgs), err)
		}
		m := msgs[0]
		if m.typ != tt.typ || m.flags != unix.NLM_F_REQUEST|unix.NLM_F_DUMP || len(m.data) != tt.bodyLen {
			t.Errorf("%s: type %d flags %#x body %d bytes; want %d, %#x, %d", tt.name, m.typ, m.flags, len(m.data), tt.typ, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, tt.bodyLen)
		}
	}
	if b := routeDumpRequest(3, unix.AF_INET6); b[16] != unix.AF_INET6 || b[20] != unix.RT_TABLE_LOCAL {
		t.Errorf("route dump body % x: want family AF_INET6 and table local", b[16:])
	}
}

// errMsg builds an NLMSG_ERROR as the kernel sends it: the errno, the
// request's header, the request's payload unless capped, then the
// extended-ACK attributes when msg is set.
func errMsg(code int32, capped bool, msg string) []byte {
	req := routeRequest(unix.RTM_NEWROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK, 5, netip.MustParsePrefix("203.0.113.0/24"), 1)
	var flags uint16
	body := u32(uint32(code))
	if capped {
		flags |= unix.NLM_F_CAPPED
		body = append(body, req[:unix.SizeofNlMsghdr]...)
	} else {
		body = append(body, req...)
	}
	if msg != "" {
		flags |= unix.NLM_F_ACK_TLVS
		body = attr(body, unix.NLMSGERR_ATTR_OFFS, u32(20))
		body = attr(body, unix.NLMSGERR_ATTR_MSG, append([]byte(msg), 0))
	}
	return finish(append(header(nil, unix.NLMSG_ERROR, flags, 5), body...))
}

// TestParseError decodes ACKs and errors with and without extended ACKs.
func TestParseError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		b     []byte
		errno unix.Errno // 0: an ACK
		want  string
	}{
		{"ack", errMsg(0, true, ""), 0, ""},
		{"errno", errMsg(-int32(unix.EPERM), true, ""), unix.EPERM, "operation not permitted (EPERM)"},
		{"uncapped", errMsg(-int32(unix.EEXIST), false, ""), unix.EEXIST, "file exists (EEXIST)"},
		{"capped ext ack", errMsg(-int32(unix.ENETDOWN), true, "Nexthop device is not up"), unix.ENETDOWN, "network is down (ENETDOWN): Nexthop device is not up"},
		{"uncapped ext ack", errMsg(-int32(unix.EINVAL), false, "Invalid prefix for given prefix length"), unix.EINVAL, "invalid argument (EINVAL): Invalid prefix for given prefix length"},
	}
	for _, tt := range tests {
		msgs, err := parseMessages(tt.b)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s: parseMessages = %d messages, %v", tt.name, len(msgs), err)
		}
		err = parseError(msgs[0])
		if tt.errno == 0 {
			if err != nil {
				t.Errorf("%s: parseError = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, tt.errno) || err.Error() != tt.want {
			t.Errorf("%s: parseError = %q, want %q (errors.Is %v)", tt.name, err, tt.want, tt.errno)
		}
	}
	// A truncated error is malformed, not an ACK.
	if err := parseError(message{typ: unix.NLMSG_ERROR, data: []byte{0, 0}}); !errors.Is(err, errMalformed) {
		t.Errorf("parseError(2 bytes) = %v, want errMalformed", err)
	}
	// A dump's NLMSG_DONE carries an int too.
	code := -int32(unix.EINTR)
	done := message{typ: unix.NLMSG_DONE, data: u32(uint32(code))}
	if err := parseError(done); !errors.Is(err, unix.EINTR) {
		t.Errorf("parseError(DONE -EINTR) = %v, want EINTR", err)
	}
}

// TestParseMessages splits datagrams and rejects malformed ones.
func TestParseMessages(t *testing.T) {
	t.Parallel()
	two := append(routeDumpRequest(1, unix.AF_INET), linkDumpRequest(2)...)
	msgs, err := parseMessages(two)
	if err != nil || len(msgs) != 2 || msgs[0].seq != 1 || msgs[1].seq != 2 {
		t.Fatalf("parseMessages(two) = %+v, %v; want seqs 1 and 2", msgs, err)
	}
	bad := map[string][]byte{
		"short header":   make([]byte, 10),
		"length too big": cat(u32(100), make([]byte, 12)),
		"length too low": cat(u32(8), make([]byte, 12)),
		"trailing bytes": append(linkDumpRequest(1), 1, 2, 3),
	}
	for name, b := range bad {
		if _, err := parseMessages(b); !errors.Is(err, errMalformed) {
			t.Errorf("%s: parseMessages err = %v, want errMalformed", name, err)
		}
	}
}

// TestParseRoute decodes route dumps, including odd ones.
func TestParseRoute(t *testing.T) {
	t.Parallel()
	rtm := func(fam, dstLen, table, proto, typ uint8) []byte {
		return []byte{fam, dstLen, 0, 0, table, proto, unix.RT_SCOPE_HOST, typ, 0, 0, 0, 0}
	}
	tests := []struct {
		name   string
		b      []byte
		want   route
		ok     bool
		errBad bool
	}{
		{"foreign v4", attr(rtm(unix.AF_INET, 8, unix.RT_TABLE_LOCAL, unix.RTPROT_KERNEL, unix.RTN_LOCAL), unix.RTA_DST, []byte{127, 0, 0, 0}),
			route{prefix: netip.MustParsePrefix("127.0.0.0/8"), table: 255, protocol: unix.RTPROT_KERNEL, typ: unix.RTN_LOCAL}, true, false},
		{"RTA_TABLE wins", attr(attr(rtm(unix.AF_INET6, 48, unix.RT_TABLE_COMPAT, Proto, unix.RTN_LOCAL), unix.RTA_DST, netip.MustParseAddr("2001:db8:100::").AsSlice()), unix.RTA_TABLE, u32(1000)),
			route{prefix: netip.MustParsePrefix("2001:db8:100::/48"), table: 1000, protocol: Proto, typ: unix.RTN_LOCAL}, true, false},
		{"default, no RTA_DST", rtm(unix.AF_INET, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RTN_UNICAST),
			route{prefix: netip.MustParsePrefix("0.0.0.0/0"), table: unix.RT_TABLE_MAIN, protocol: unix.RTPROT_BOOT, typ: unix.RTN_UNICAST}, true, false},
		{"mpls family", rtm(unix.AF_MPLS, 20, 0, 0, 0), route{}, false, false},
		{"short", []byte{unix.AF_INET, 24}, route{}, false, true},
		{"v6 address in a v4 route", attr(rtm(unix.AF_INET, 24, 255, Proto, unix.RTN_LOCAL), unix.RTA_DST, make([]byte, 16)), route{}, false, true},
		{"length beyond the family", attr(rtm(unix.AF_INET, 33, 255, Proto, unix.RTN_LOCAL), unix.RTA_DST, make([]byte, 4)), route{}, false, true},
		{"bad attribute", append(rtm(unix.AF_INET, 24, 255, Proto, unix.RTN_LOCAL), 0xff, 0xff, 1, 0), route{}, false, true},
	}
	for _, tt := range tests {
		r, ok, err := parseRoute(tt.b)
		if (err != nil) != tt.errBad || ok != tt.ok || r != tt.want {
			t.Errorf("%s: parseRoute = %+v, %v, %v; want %+v, %v, error %v", tt.name, r, ok, err, tt.want, tt.ok, tt.errBad)
		}
		if err != nil && !errors.Is(err, errMalformed) {
			t.Errorf("%s: error %v does not wrap errMalformed", tt.name, err)
		}
	}
}

// TestCheckPrefix checks which prefixes Sync refuses, and why.
func TestCheckPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    netip.Prefix
		want string // "" = accepted
	}{
		{netip.MustParsePrefix("203.0.113.0/24"), ""},
		{netip.MustParsePrefix("203.0.113.7/32"), ""},
		{netip.MustParsePrefix("2001:db8:100::/48"), ""},
		{netip.Prefix{}, `anyip: skipping invalid prefix "invalid Prefix"`},
		{netip.MustParsePrefix("203.0.113.1/24"), "anyip: skipping prefix 203.0.113.1/24: host bits set; want 203.0.113.0/24"},
		{netip.MustParsePrefix("::ffff:203.0.113.0/120"), "anyip: skipping IPv4-mapped prefix ::ffff:203.0.113.0/120; want 203.0.113.0/24"},
		{netip.MustParsePrefix("0.0.0.0/0"), "anyip: skipping prefix 0.0.0.0/0: a default local route would make every destination local"},
		{netip.MustParsePrefix("::/0"), "anyip: skipping prefix ::/0: a default local route would make every destination local"},
	}
	for _, tt := range tests {
		err := checkPrefix(tt.p)
		if got := errString(err); got != tt.want {
			t.Errorf("checkPrefix(%s) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzParse feeds arbitrary datagrams to the decoders: they must not panic,
// and a route they accept has a valid prefix.
func FuzzParse(f *testing.F) {
	f.Add(routeRequest(unix.RTM_NEWROUTE, unix.NLM_F_REQUEST, 1, netip.MustParsePrefix("203.0.113.0/24"), 1))
	f.Add(routeRequest(unix.RTM_NEWROUTE, unix.NLM_F_REQUEST, 1, netip.MustParsePrefix("2001:db8:100::/48"), 0))
	f.Add(append(routeDumpRequest(1, unix.AF_INET), linkDumpRequest(2)...))
	f.Add(errMsg(-int32(unix.ENETDOWN), true, "Nexthop device is not up"))
	f.Add(errMsg(-int32(unix.EINVAL), false, "x"))
	f.Add(errMsg(0, true, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, _ := parseMessages(b)
		for _, m := range msgs {
			_ = parseError(m)
			m.typ = unix.NLMSG_ERROR
			m.flags |= unix.NLM_F_ACK_TLVS
			_ = parseError(m)
			m.flags |= unix.NLM_F_CAPPED
			_ = parseError(m)
			_, _, _ = parseLink(m.data)
			r, ok, err := parseRoute(m.data)
			if err == nil && ok && !r.prefix.IsValid() {
				t.Errorf("parseRoute accepted an invalid prefix: %+v", r)
			}
		}
	})
}
