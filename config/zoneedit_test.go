package config

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestDNSAnswersPausedZone: a paused zone's proxied records answer their
// own content, like DNS-only records; other zones keep the edge answer.
func TestDNSAnswersPausedZone(t *testing.T) {
	t.Parallel()
	pool := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	build := func(paused bool) map[string]string {
		st := NewState()
		st.Zones["z1"] = &Zone{ID: "z1", Name: "example.org", AccountID: "a", Paused: paused}
		st.Zones["z2"] = &Zone{ID: "z2", Name: "example.net", AccountID: "a"}
		st.DNSRecords["r1"] = &DNSRecord{ID: "r1", ZoneID: "z1", ZoneName: "example.org", AccountID: "a", Type: RecordA, Name: "www.example.org", Content: "192.0.2.10", TTL: 120, Proxied: true}
		st.DNSRecords["r2"] = &DNSRecord{ID: "r2", ZoneID: "z1", ZoneName: "example.org", AccountID: "a", Type: RecordCNAME, Name: "api.example.org", Content: "origin.example.com", TTL: TTLAuto, Proxied: true}
		st.DNSRecords["r3"] = &DNSRecord{ID: "r3", ZoneID: "z2", ZoneName: "example.net", AccountID: "a", Type: RecordA, Name: "www.example.net", Content: "192.0.2.20", TTL: TTLAuto, Proxied: true}
		s, err := CompileWith(st, time.Unix(0, 0), CompileOptions{AnycastPool: pool})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, a := range s.DNSAnswers() {
			out[a.Name] = fmt.Sprintf("A=%v CNAME=%s ttl=%d %s", a.A, a.CNAME, a.TTL, a.Source)
		}
		return out
	}
	tests := []struct {
		paused bool
		want   map[string]string
	}{
		{false, map[string]string{
			"www.example.org": "A=[198.51.100.1] CNAME= ttl=300 proxied",
			"api.example.org": "A=[198.51.100.1] CNAME= ttl=300 proxied",
			"www.example.net": "A=[198.51.100.1] CNAME= ttl=300 proxied",
		}},
		{true, map[string]string{
			"www.example.org": "A=[192.0.2.10] CNAME= ttl=120 record",
			"api.example.org": "A=[] CNAME=origin.example.com ttl=300 record",
			"www.example.net": "A=[198.51.100.1] CNAME= ttl=300 proxied",
		}},
	}
	for _, tt := range tests {
		got := build(tt.paused)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("paused=%v:\n got %v\nwant %v", tt.paused, got, tt.want)
		}
	}
}

func TestCheckVanityNameServers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string // fmt of the result, or "error"
	}{
		{nil, "[]"},
		{[]string{}, "[]"},
		{[]string{"NS1.Example.ORG.", "ns2.example.org"}, "[ns1.example.org ns2.example.org]"},
		{[]string{"ns1.example.org", "NS1.example.org."}, "error"},
		{[]string{"localhost"}, "error"},
		{[]string{"not a name.example"}, "error"},
		{[]string{""}, "error"},
		{[]string{"a.x", "b.x", "c.x", "d.x", "e.x", "f.x", "g.x", "h.x", "i.x", "j.x", "k.x"}, "error"},
	}
	for _, tt := range tests {
		got, err := CheckVanityNameServers(tt.in)
		s := fmt.Sprint(got)
		if err != nil {
			if r, ok := RuleOf(err); !ok || r != RuleZoneVanityNS {
				t.Errorf("CheckVanityNameServers(%q): error %v without RuleZoneVanityNS", tt.in, err)
			}
			s = "error"
		}
		if s != tt.want {
			t.Errorf("CheckVanityNameServers(%q) = %s (%v), want %s", tt.in, s, err, tt.want)
		}
	}
}

// TestStateCloneZone: a clone shares no vanity name server slice.
func TestStateCloneZone(t *testing.T) {
	t.Parallel()
	st := NewState()
	st.Zones["z"] = &Zone{ID: "z", VanityNameServers: []string{"ns1.example.org"}}
	c := st.Clone()
	c.Zones["z"].VanityNameServers[0] = "changed.example.org"
	if st.Zones["z"].VanityNameServers[0] != "ns1.example.org" {
		t.Fatal("State.Clone shares Zone.VanityNameServers")
	}
}
