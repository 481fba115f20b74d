package api

import (
	"testing"

	cloudflare "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/addressing"
	"github.com/cloudflare/cloudflare-go/v6/option"

	"github.com/edgesim/edgesim/config"
)

func mapPath(acct string, rest ...string) string {
	p := "/client/v4/accounts/" + acct + "/addressing/address_maps"
	for _, s := range rest {
		p += "/" + s
	}
	return p
}

// TestAddressMapRules drives the address map rules through HTTP.
func TestAddressMapRules(t *testing.T) {
	t.Parallel()
	managed := func(d *config.Daemon) { d.Accounts[0].BYOIPOnlyMap = []string{"203.0.113.30"} }
	mk := func(e *env, body map[string]any) string {
		var v addressMapFullView
		e.must("POST", mapPath(acctA), body, authA, &v)
		return v.ID
	}
	tests := []struct {
		name   string
		daemon func(*config.Daemon)
		setup  func(e *env) req
		status int
		code   Code
	}{
		{name: "create", setup: func(e *env) req {
			e.spectrumSetup()
			return post(mapPath(acctA), map[string]any{"description": "m", "enabled": false, "ips": []string{"203.0.113.1"}, "memberships": []any{map[string]any{"identifier": zoneA, "kind": "zone"}}, "default_sni": "sni.example.net"})
		}, status: 200},
		{name: "create empty", setup: func(e *env) req { return post(mapPath(acctA), nil) }, status: 200},
		{name: "ip not owned", setup: func(e *env) req { return post(mapPath(acctA), map[string]any{"ips": []string{"192.0.2.1"}}) }, status: 400, code: CodeAddressMapIPNotOwned},
		{name: "ip invalid", setup: func(e *env) req { return post(mapPath(acctA), map[string]any{"ips": []string{"x"}}) }, status: 400, code: CodeAddressMapIP},
		{name: "delegated ip ok for B", setup: func(e *env) req {
			e.spectrumSetup()
			return req{"POST", mapPath(acctB), map[string]any{"ips": []string{"203.0.113.18"}, "memberships": []any{map[string]any{"identifier": zoneB, "kind": "zone"}}}, authB}
		}, status: 200},
		{name: "neighbour ip not ok for B", setup: func(e *env) req {
			e.spectrumSetup()
			return req{"POST", mapPath(acctB), map[string]any{"ips": []string{"203.0.113.19"}}, authB}
		}, status: 400, code: CodeAddressMapIPNotOwned},
		{name: "membership foreign zone", setup: func(e *env) req {
			return post(mapPath(acctA), map[string]any{"memberships": []any{map[string]any{"identifier": zoneB, "kind": "zone"}}})
		}, status: 400, code: CodeAddressMapMembership},
		{name: "membership foreign account", setup: func(e *env) req {
			return post(mapPath(acctA), map[string]any{"memberships": []any{map[string]any{"identifier": acctB, "kind": "account"}}})
		}, status: 400, code: CodeAddressMapMembership},
		{name: "membership bad kind", setup: func(e *env) req {
			return post(mapPath(acctA), map[string]any{"memberships": []any{map[string]any{"identifier": acctA, "kind": "user"}}})
		}, status: 400, code: CodeAddressMapMembership},
		{name: "membership missing kind", setup: func(e *env) req {
			return post(mapPath(acctA), map[string]any{"memberships": []any{map[string]any{"identifier": acctA}}})
		}, status: 400, code: CodeMissingField},
		{name: "bad sni", setup: func(e *env) req { return post(mapPath(acctA), map[string]any{"default_sni": "not a name"}) }, status: 400, code: CodeAddressMapSNI},
		{name: "patch", setup: func(e *env) req {
			return patch(mapPath(acctA, mk(e, nil)), map[string]any{"default_sni": "sni.example.net", "enabled": true, "description": "d"})
		}, status: 200},
		{name: "patch ips unknown field", setup: func(e *env) req { return patch(mapPath(acctA, mk(e, nil)), map[string]any{"ips": []string{}}) }, status: 400, code: CodeUnknownField},
		{name: "delete enabled", setup: func(e *env) req { return delReq(mapPath(acctA, mk(e, map[string]any{"enabled": true}))) }, status: 409, code: CodeAddressMapEnabled},
		{name: "delete disabled", setup: func(e *env) req { return delReq(mapPath(acctA, mk(e, nil))) }, status: 200},
		{name: "delete unknown", setup: func(e *env) req { return delReq(mapPath(acctA, newID())) }, status: 404, code: CodeNotFound},
		{name: "get other account's map", setup: func(e *env) req { return req{"GET", mapPath(acctB, mk(e, nil)), nil, authB} }, status: 404, code: CodeNotFound},
		{name: "put ip empty body", setup: func(e *env) req {
			e.spectrumSetup()
			return req{"PUT", mapPath(acctA, mk(e, nil), "ips", "203.0.113.2"), "", authA}
		}, status: 200},
		{name: "put ipv6 literal", setup: func(e *env) req {
			e.approvedPrefix("2001:db8::/48")
			return req{"PUT", mapPath(acctA, mk(e, nil), "ips", "2001:db8::1"), "{}", authA}
		}, status: 200},
		{name: "put ip not owned", setup: func(e *env) req { return req{"PUT", mapPath(acctA, mk(e, nil), "ips", "192.0.2.1"), "{}", authA} }, status: 400, code: CodeAddressMapIPNotOwned},
		{name: "put ip bad", setup: func(e *env) req { return req{"PUT", mapPath(acctA, mk(e, nil), "ips", "nope"), "{}", authA} }, status: 400, code: CodeAddressMapIP},
		{name: "put ip body field", setup: func(e *env) req {
			return req{"PUT", mapPath(acctA, mk(e, nil), "ips", "203.0.113.2"), `{"x":1}`, authA}
		}, status: 400, code: CodeUnknownField},
		{name: "delete ip absent", setup: func(e *env) req { return delReq(mapPath(acctA, mk(e, nil), "ips", "203.0.113.2")) }, status: 404, code: CodeNotFound},
		{name: "put zone", setup: func(e *env) req { return req{"PUT", mapPath(acctA, mk(e, nil), "zones", zoneA), "", authA} }, status: 200},
		{name: "put foreign zone", setup: func(e *env) req { return req{"PUT", mapPath(acctA, mk(e, nil), "zones", zoneB), "{}", authA} }, status: 400, code: CodeAddressMapMembership},
		{name: "put account", setup: func(e *env) req { return req{"PUT", mapPath(acctA, mk(e, nil), "accounts", acctA), "{}", authA} }, status: 200},
		{name: "delete zone absent", setup: func(e *env) req { return delReq(mapPath(acctA, mk(e, nil), "zones", zoneA)) }, status: 404, code: CodeNotFound},
		{name: "managed listed", daemon: managed, setup: func(e *env) req { return req{"GET", mapPath(acctA), nil, authA} }, status: 200},
		{name: "managed delete", daemon: managed, setup: func(e *env) req { return delReq(mapPath(acctA, config.ManagedMapID(acctA))) }, status: 400, code: CodeAddressMapManaged},
		{name: "managed put ip", daemon: managed, setup: func(e *env) req {
			e.spectrumSetup()
			return req{"PUT", mapPath(acctA, config.ManagedMapID(acctA), "ips", "203.0.113.2"), "{}", authA}
		}, status: 400, code: CodeAddressMapManaged},
		{name: "managed patch", daemon: managed, setup: func(e *env) req {
			return patch(mapPath(acctA, config.ManagedMapID(acctA)), map[string]any{"enabled": false})
		}, status: 400, code: CodeAddressMapManaged},
		{name: "managed delete membership", daemon: managed, setup: func(e *env) req {
			return delReq(mapPath(acctA, config.ManagedMapID(acctA), "accounts", acctA))
		}, status: 400, code: CodeAddressMapManaged},
		{name: "read token create", setup: func(e *env) req { return req{"POST", mapPath(acctA), nil, bearer(tokenRead)} }, status: 403, code: CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpt{daemon: tt.daemon})
			rq := tt.setup(e)
			before := e.srv.State()
			r := e.do(rq.method, rq.path, rq.body, rq.auth)
			if r.Status != tt.status || r.code() != tt.code {
				t.Fatalf("%s %s = %d code %d, want %d code %d\n%s", rq.method, rq.path, r.Status, r.code(), tt.status, tt.code, r.Raw)
			}
			if tt.status >= 400 && !statesEqual(before, e.srv.State()) {
				t.Errorf("a rejected request changed the state")
			}
		})
	}
}

// TestSDKAddressMapLifecycle: create, list, get, edit, ips/zones/accounts
// (empty bodies, IPv6 in the path), DNS precedence, delete.
func TestSDKAddressMapLifecycle(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{daemon: func(d *config.Daemon) { d.Accounts[0].BYOIPOnlyMap = []string{"203.0.113.30"} }})
	e.spectrumSetup()
	e.approvedPrefix("2001:db8::/48")
	ctx := t.Context()
	a := keyClient(e.hs.URL, emailA, keyA)
	acct := cloudflare.F(acctA)
	e.must("POST", recPath(zoneA), rec("A", "www", "192.0.2.10", "proxied", true), authA, nil)
	answer := func() dnsAnswerView {
		var v dnsView
		e.must("GET", "/admin/v1/dns", nil, noAuth, &v)
		for _, x := range v.Answers {
			if x.Name == "www.example.net" {
				return x
			}
		}
		t.Fatal("no answer for www.example.net")
		return dnsAnswerView{}
	}
	// The managed account-wide map applies first.
	if w := answer(); len(w.A) != 1 || w.A[0] != "203.0.113.30" || len(w.AAAA) != 0 {
		t.Fatalf("managed map answer %+v", w)
	}

	m, err := a.Addressing.AddressMaps.New(ctx, addressing.AddressMapNewParams{
		AccountID: acct, Description: cloudflare.F("m"), Enabled: cloudflare.F(false), IPs: cloudflare.F([]string{"203.0.113.1"}),
		Memberships: cloudflare.F([]addressing.AddressMapNewParamsMembership{{Identifier: cloudflare.F(zoneA), Kind: cloudflare.F(addressing.KindZone)}}),
	}, option.WithJSONSet("default_sni", "sni.example.net"))
	if err != nil || m.Enabled || !m.CanDelete || !m.CanModifyIPs || len(m.IPs) != 1 || len(m.Memberships) != 1 || m.DefaultSNI != "sni.example.net" {
		t.Fatalf("AddressMaps.New: %v %+v", err, m)
	}
	if w := answer(); w.A[0] != "203.0.113.30" {
		t.Fatalf("a disabled map changed the answer: %+v", w)
	}
	ed, err := a.Addressing.AddressMaps.Edit(ctx, m.ID, addressing.AddressMapEditParams{AccountID: acct, Enabled: cloudflare.F(true)})
	if err != nil || !ed.Enabled {
		t.Fatalf("AddressMaps.Edit: %v %+v", err, ed)
	}
	if w := answer(); len(w.A) != 1 || w.A[0] != "203.0.113.1" || len(w.MapIDs) != 1 || w.MapIDs[0] != m.ID {
		t.Fatalf("zone map answer %+v", w)
	}
	if _, err := a.Addressing.AddressMaps.IPs.Update(ctx, m.ID, "2001:db8::1", addressing.AddressMapIPUpdateParams{AccountID: acct, Body: map[string]any{}}); err != nil {
		t.Fatalf("IPs.Update(v6): %v", err)
	}
	if _, err := a.Addressing.AddressMaps.IPs.Update(ctx, m.ID, "203.0.113.2", addressing.AddressMapIPUpdateParams{AccountID: acct, Body: nil}); err != nil {
		t.Fatalf("IPs.Update(empty body): %v", err)
	}
	if _, err := a.Addressing.AddressMaps.IPs.Delete(ctx, m.ID, "203.0.113.1", addressing.AddressMapIPDeleteParams{AccountID: acct}); err != nil {
		t.Fatalf("IPs.Delete: %v", err)
	}
	if w := answer(); fmtAddrs(w.A, w.AAAA) != "[203.0.113.2] [2001:db8::1]" {
		t.Fatalf("answer after ip changes %+v", w)
	}
	if _, err := a.Addressing.AddressMaps.Accounts.Update(ctx, m.ID, addressing.AddressMapAccountUpdateParams{AccountID: acct, Body: map[string]any{}}); err != nil {
		t.Fatalf("Accounts.Update: %v", err)
	}
	if _, err := a.Addressing.AddressMaps.Zones.Delete(ctx, m.ID, addressing.AddressMapZoneDeleteParams{AccountID: acct, ZoneID: cloudflare.F(zoneA)}); err != nil {
		t.Fatalf("Zones.Delete: %v", err)
	}
	// Account memberships: the enabled map and the managed one (union).
	if w := answer(); fmtAddrs(w.A, w.AAAA) != "[203.0.113.2 203.0.113.30] [2001:db8::1]" {
		t.Fatalf("account map answer %+v", w)
	}
	if _, err := a.Addressing.AddressMaps.Zones.Update(ctx, m.ID, addressing.AddressMapZoneUpdateParams{AccountID: acct, ZoneID: cloudflare.F(zoneA), Body: map[string]any{}}); err != nil {
		t.Fatalf("Zones.Update: %v", err)
	}
	got, err := a.Addressing.AddressMaps.Get(ctx, m.ID, addressing.AddressMapGetParams{AccountID: acct})
	if err != nil || len(got.IPs) != 2 || len(got.Memberships) != 2 {
		t.Fatalf("AddressMaps.Get: %v %+v", err, got)
	}
	list, err := a.Addressing.AddressMaps.List(ctx, addressing.AddressMapListParams{AccountID: acct})
	if err != nil || len(list.Result) != 2 || list.Result[0].CanDelete || list.Result[1].ID != m.ID {
		t.Fatalf("AddressMaps.List: %v %+v", err, list)
	}
	_, err = a.Addressing.AddressMaps.Delete(ctx, m.ID, addressing.AddressMapDeleteParams{AccountID: acct})
	apiErr(t, "delete enabled map", err, 409, CodeAddressMapEnabled)
	if _, err := a.Addressing.AddressMaps.Edit(ctx, m.ID, addressing.AddressMapEditParams{AccountID: acct, Enabled: cloudflare.F(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Addressing.AddressMaps.Delete(ctx, m.ID, addressing.AddressMapDeleteParams{AccountID: acct}); err != nil {
		t.Fatalf("AddressMaps.Delete: %v", err)
	}
	_, err = a.Addressing.AddressMaps.Delete(ctx, config.ManagedMapID(acctA), addressing.AddressMapDeleteParams{AccountID: acct})
	apiErr(t, "delete managed map", err, 400, CodeAddressMapManaged)
}
