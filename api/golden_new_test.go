package api

import (
	"testing"
	"time"

	"github.com/edgesim/edgesim/store"
)

// TestGoldenZonesMapsRules records the responses of zones, DNS records,
// address maps, access rules and the admin answer set.
func TestGoldenZonesMapsRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	e.spectrumSetup()
	n := newNormalizer()
	step := func() { e.clk.FastForward(time.Second) }
	g := func(name, method, path string, body any, a auth) *resp {
		t.Helper()
		r := e.do(method, path, body, a)
		checkGolden(t, n, name, r)
		step()
		return r
	}
	g("zone_get", "GET", "/client/v4/zones/"+zoneA, nil, authA)
	var z zoneView
	g("zone_create", "POST", "/client/v4/zones", map[string]any{"name": "example.org", "account": map[string]any{"id": acctA}}, authA).into(t, &z)
	g("zones_list", "GET", "/client/v4/zones?per_page=5", nil, authA)
	var r dnsRecordView
	g("dns_record_create", "POST", recPath(zoneA), rec("A", "www", "192.0.2.10", "proxied", true, "comment", "origin"), authA).into(t, &r)
	g("dns_record_patch", "PATCH", recPath(zoneA, r.ID), map[string]any{"ttl": 300, "proxied": false}, authA)
	g("dns_records_list", "GET", recPath(zoneA)+"?type=A", nil, authA)
	g("dns_record_error_conflict", "POST", recPath(zoneA), rec("CNAME", "www", "origin.example.org"), authA)
	e.must("PATCH", recPath(zoneA, r.ID), map[string]any{"proxied": true}, authA, nil)
	var m addressMapFullView
	g("address_map_create", "POST", mapPath(acctA), map[string]any{"description": "m", "enabled": false, "ips": []string{"203.0.113.1"},
		"memberships": []any{map[string]any{"identifier": zoneA, "kind": "zone"}}, "default_sni": "sni.example.net"}, authA).into(t, &m)
	g("address_map_edit", "PATCH", mapPath(acctA, m.ID), map[string]any{"enabled": true}, authA)
	g("address_map_put_ip", "PUT", mapPath(acctA, m.ID, "ips", "203.0.113.2"), "", authA)
	g("address_map_get", "GET", mapPath(acctA, m.ID), nil, authA)
	g("address_maps_list", "GET", mapPath(acctA), nil, authA)
	g("address_map_error_delete_enabled", "DELETE", mapPath(acctA, m.ID), nil, authA)
	g("access_rule_create", "POST", rulesPath("zones/"+zoneA), map[string]any{"mode": "block", "notes": "n", "configuration": map[string]any{"target": "ip_range", "value": "192.0.2.0/24"}}, authA)
	g("access_rules_list", "GET", rulesPath("zones/"+zoneA), nil, authA)
	g("admin_dns_address_map", "GET", "/admin/v1/dns", nil, noAuth)
	g("zone_edit_paused", "PATCH", "/client/v4/zones/"+z.ID, map[string]any{"paused": true}, authA)
	g("zone_edit_vanity", "PATCH", "/client/v4/zones/"+z.ID, map[string]any{"vanity_name_servers": []string{"ns1.example.org", "ns2.example.org"}}, authA)
	g("zone_edit_error_immutable", "PATCH", "/client/v4/zones/"+z.ID, map[string]any{"name": "example.info"}, authA)
	g("zone_edit_error_one", "PATCH", "/client/v4/zones/"+z.ID, map[string]any{"paused": false, "type": "full"}, authA)
	g("zone_delete_error_configured", "DELETE", "/client/v4/zones/"+zoneA, nil, authA)
	g("zone_delete", "DELETE", "/client/v4/zones/"+z.ID, nil, authA)
}

// TestRestartNewKinds: Spectrum apps, zones, records, maps and rules
// survive a restart on the same store with the same answers.
func TestRestartNewKinds(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	e1 := newEnv(t, envOpt{store: st})
	e1.spectrumSetup()
	e1.must("POST", appsPath(zoneA), app(nil), authA, nil)
	e1.must("POST", appsPath(zoneB), app(set("dns", map[string]any{"type": "ADDRESS", "name": "ssh.example.com"}, "edge_ips", static("203.0.113.18"))), authB, nil)
	var z zoneView
	e1.must("POST", "/client/v4/zones", map[string]any{"name": "example.org", "account": map[string]any{"id": acctA}}, authA, &z)
	e1.must("POST", recPath(z.ID), rec("A", "www", "192.0.2.1", "proxied", true), authA, nil)
	e1.must("POST", mapPath(acctA), map[string]any{"enabled": true, "ips": []string{"203.0.113.1"}, "memberships": []any{map[string]any{"identifier": z.ID, "kind": "zone"}}}, authA, nil)
	e1.must("POST", rulesPath("accounts/"+acctA), rule("block", "ip", "192.0.2.1"), authA, nil)
	paths := []string{appsPath(zoneA), appsPath(zoneB), "/client/v4/zones", recPath(z.ID), mapPath(acctA), rulesPath("accounts/" + acctA), "/admin/v1/dns"}
	who := func(p string) auth {
		if p == appsPath(zoneB) {
			return authB
		}
		return authA
	}
	before := map[string]string{}
	for _, p := range paths {
		before[p] = string(e1.must("GET", p, nil, who(p), nil).Raw)
	}
	state1 := mustJSON(e1.srv.State())
	e1.srv.Close()
	e2 := newEnv(t, envOpt{store: st, clk: e1.clk})
	if got := mustJSON(e2.srv.State()); got != state1 {
		t.Fatalf("state after restart:\n%s\nwant\n%s", got, state1)
	}
	for _, p := range paths {
		if got := string(e2.must("GET", p, nil, who(p), nil).Raw); got != before[p] {
			t.Errorf("GET %s after restart:\n%s\nwant\n%s", p, got, before[p])
		}
	}
}
