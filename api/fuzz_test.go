package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgesim/edgesim/config"
)

// FuzzParseCIDR: the CIDR parsers never panic, every rejection carries a
// rule with an HTTP code, and an accepted prefix is canonical and
// round-trips through its string form.
func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"203.0.113.0/24", "203.0.113.1/24", "203.0.113.0/25", "2001:db8::/48", "2001:DB8::/32",
		"2001:db8::/49", "::ffff:203.0.113.0/120", "fe80::%eth0/64", "0.0.0.0/0", "203.0.113.018/32", "", "/", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := config.ParseCIDR(s)
		if err != nil {
			rule, ok := config.RuleOf(err)
			if !ok {
				t.Fatalf("ParseCIDR(%q) error %v has no rule", s, err)
			}
			if _, ok := ruleCodes[rule]; !ok {
				t.Fatalf("rule %q has no code", rule)
			}
			if _, err := config.ParsePrefixCIDR(s); err == nil {
				t.Fatalf("ParsePrefixCIDR(%q) accepted what ParseCIDR rejected", s)
			}
			return
		}
		if !p.IsValid() || p.Masked() != p || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("ParseCIDR(%q) = %v, not canonical", s, p)
		}
		if q, err := config.ParseCIDR(p.String()); err != nil || q != p {
			t.Fatalf("ParseCIDR(%q) = %v, %v; want round trip of %v", p.String(), q, err, p)
		}
		q, err := config.ParsePrefixCIDR(s)
		switch limit := config.MaxPrefixLen(p.Addr()); {
		case p.Bits() > limit:
			if r, _ := config.RuleOf(err); r != config.RuleCIDRTooSpecific {
				t.Fatalf("ParsePrefixCIDR(%q) = %v, %v; want too specific", s, q, err)
			}
		case err != nil || q != p:
			t.Fatalf("ParsePrefixCIDR(%q) = %v, %v; want %v", s, q, err, p)
		}
	})
}

// FuzzDecodeRequest sends random bodies to every endpoint that takes one:
// never a 500, always a JSON envelope whose success matches the status.
func FuzzDecodeRequest(f *testing.F) {
	e := newEnv(f, envOpt{})
	id, bgp := e.withDefault(v4)
	endpoints := []struct{ method, path string }{
		{"POST", pfxPath(acctA)},
		{"PATCH", pfxPath(acctA, id)},
		{"POST", pfxPath(acctA, id, "delegations")},
		{"POST", pfxPath(acctA, id, "bindings")},
		{"POST", pfxPath(acctA, id, "bgp", "prefixes")},
		{"PATCH", pfxPath(acctA, id, "bgp", "prefixes", bgp)},
		{"PATCH", pfxPath(acctA, id, "bgp", "status")},
		{"POST", "/admin/v1/clock/fast-forward"},
	}
	for i, body := range []string{
		`{"cidr":"198.51.100.0/24","asn":13335,"delegate_loa_creation":true}`,
		`{"description":"x"}`,
		`{"cidr":"203.0.113.18/32","delegated_account_id":"b1946ac92492d2347c6235b4d2611184"}`,
		`{"cidr":"203.0.113.16/29","service_id":"5c3f2a6c19e84a4f8fd0a4cd6c1c9e21"}`,
		`{"cidr":"203.0.113.0/24"}`,
		`{"asn_prepend_count":2,"auto_advertise_withdraw":false,"on_demand":{"advertised":true}}`,
		`{"advertised":false}`,
		`{"duration":"1s"}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Add(uint8(0), []byte(`{"cidr":`))
	f.Add(uint8(5), []byte(`{"on_demand":[]}`))
	f.Add(uint8(3), []byte(``))
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ep := endpoints[int(which)%len(endpoints)]
		r := httptest.NewRequest(ep.method, ep.path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Auth-Email", emailA)
		r.Header.Set("X-Auth-Key", keyA)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q = %d: %s", ep.method, ep.path, body, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
		var env envelope
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
			t.Fatalf("body is not an envelope: %v: %s", err, w.Body)
		}
		if env.Success != (w.Code == http.StatusOK) || (w.Code != http.StatusOK) != (len(env.Errors) == 1) {
			t.Fatalf("envelope does not match status %d: %s", w.Code, w.Body)
		}
		if w.Code != http.StatusOK && (env.Errors[0].Code < 1000 || w.Header().Get("X-Should-Retry") != "false") {
			t.Fatalf("error envelope: %s %v", w.Body, w.Header())
		}
	})
}

// serveFuzz sends body to path as account A.
func serveFuzz(h http.Handler, method, path string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Auth-Email", emailA)
	r.Header.Set("X-Auth-Key", keyA)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkFuzzEnvelope: no 500, JSON content type, an envelope whose success
// matches the status, and error envelopes with a code and x-should-retry.
func checkFuzzEnvelope(t *testing.T, method, path string, body []byte, code int, h http.Header, out []byte) {
	t.Helper()
	if code >= 500 {
		t.Fatalf("%s %s %q = %d: %s", method, path, body, code, out)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	var env envelope
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatalf("body is not an envelope: %v: %s", err, out)
	}
	if env.Success != (code == http.StatusOK) || (code != http.StatusOK) != (len(env.Errors) == 1) {
		t.Fatalf("envelope does not match status %d: %s", code, out)
	}
	if code != http.StatusOK && (env.Errors[0].Code < 1000 || h.Get("X-Should-Retry") != "false") {
		t.Fatalf("error envelope: %s %v", out, h)
	}
}

// FuzzZoneMapRuleRequest sends random bodies to the zone, DNS record,
// address map and access rule endpoints: never a 500, always an envelope.
func FuzzZoneMapRuleRequest(f *testing.F) {
	e := newEnv(f, envOpt{})
	e.spectrumSetup()
	var r dnsRecordView
	e.must("POST", recPath(zoneA), rec("A", "seed", "192.0.2.1"), authA, &r)
	var m addressMapFullView
	e.must("POST", mapPath(acctA), nil, authA, &m)
	var ar accessRuleView
	e.must("POST", rulesPath("zones/"+zoneA), rule("block", "ip", "192.0.2.99"), authA, &ar)
	var z zoneView
	e.must("POST", "/client/v4/zones", map[string]any{"name": "example.org", "account": map[string]any{"id": acctA}}, authA, &z)
	endpoints := []struct{ method, path string }{
		{"POST", "/client/v4/zones"},
		{"POST", recPath(zoneA)},
		{"PATCH", recPath(zoneA, r.ID)},
		{"PUT", recPath(zoneA, r.ID)},
		{"POST", mapPath(acctA)},
		{"PATCH", mapPath(acctA, m.ID)},
		{"PUT", mapPath(acctA, m.ID, "ips", "203.0.113.2")},
		{"POST", rulesPath("zones/" + zoneA)},
		{"PATCH", rulesPath("zones/"+zoneA, ar.ID)},
		{"PATCH", "/client/v4/zones/" + z.ID},
	}
	for i, body := range []string{
		`{"name":"example.org","account":{"id":"258def64c72dae45f3e4c8516e2111f2"},"type":"full"}`,
		`{"type":"A","name":"www","content":"192.0.2.10","ttl":1,"proxied":true,"comment":"c","tags":["a:b"]}`,
		`{"proxied":false,"ttl":300}`,
		`{"type":"CNAME","name":"@","content":"origin.example.org","ttl":1}`,
		`{"description":"m","enabled":false,"ips":["203.0.113.1"],"memberships":[{"identifier":"9a7806061c88ada191ed06f989cc3dac","kind":"zone"}]}`,
		`{"default_sni":"sni.example.net","enabled":true}`,
		``,
		`{"mode":"block","configuration":{"target":"ip_range","value":"192.0.2.0/24"},"notes":"n"}`,
		`{"mode":"challenge"}`,
		`{"vanity_name_servers":["ns1.example.org","ns2.example.org"]}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ep := endpoints[int(which)%len(endpoints)]
		w := serveFuzz(h, ep.method, ep.path, body)
		checkFuzzEnvelope(t, ep.method, ep.path, body, w.Code, w.Header(), w.Body.Bytes())
	})
}
