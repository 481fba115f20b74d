package api

import (
	"net/netip"
	"testing"

	cloudflare "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/firewall"

	"github.com/edgesim/edgesim/config"
)

func rulesPath(base string, rest ...string) string {
	p := "/client/v4/" + base + "/firewall/access_rules/rules"
	for _, s := range rest {
		p += "/" + s
	}
	return p
}

func rule(mode, target, value string) map[string]any {
	return map[string]any{"mode": mode, "configuration": map[string]any{"target": target, "value": value}}
}

// TestAccessRuleRules drives the access rule rules through HTTP.
func TestAccessRuleRules(t *testing.T) {
	t.Parallel()
	zone, acct := "zones/"+zoneA, "accounts/"+acctA
	mk := func(e *env, base string, body map[string]any) string {
		var v accessRuleView
		e.must("POST", rulesPath(base), body, authA, &v)
		return v.ID
	}
	tests := []struct {
		name   string
		setup  func(e *env) req
		status int
		code   Code
	}{
		{name: "zone ip block", setup: func(e *env) req { return post(rulesPath(zone), rule("block", "ip", "192.0.2.1")) }, status: 200},
		{name: "account ip6 whitelist", setup: func(e *env) req { return post(rulesPath(acct), rule("whitelist", "ip6", "2001:DB8::1")) }, status: 200},
		{name: "ip_range /24", setup: func(e *env) req { return post(rulesPath(zone), rule("challenge", "ip_range", "192.0.2.0/24")) }, status: 200},
		{name: "ip_range v6 /48", setup: func(e *env) req { return post(rulesPath(zone), rule("challenge", "ip_range", "2001:db8::/48")) }, status: 200},
		{name: "ip_range /25", setup: func(e *env) req { return post(rulesPath(zone), rule("block", "ip_range", "192.0.2.0/25")) }, status: 400, code: CodeAccessRuleValue},
		{name: "ip_range host bits", setup: func(e *env) req { return post(rulesPath(zone), rule("block", "ip_range", "192.0.2.1/24")) }, status: 400, code: CodeAccessRuleValue},
		{name: "ip with v6", setup: func(e *env) req { return post(rulesPath(zone), rule("block", "ip", "2001:db8::1")) }, status: 400, code: CodeAccessRuleValue},
		{name: "ip6 with v4", setup: func(e *env) req { return post(rulesPath(zone), rule("block", "ip6", "192.0.2.1")) }, status: 400, code: CodeAccessRuleValue},
		{name: "target country", setup: func(e *env) req { return post(rulesPath(zone), rule("block", "country", "US")) }, status: 400, code: CodeAccessRuleTarget},
		{name: "mode allow", setup: func(e *env) req { return post(rulesPath(zone), rule("allow", "ip", "192.0.2.1")) }, status: 400, code: CodeAccessRuleMode},
		{name: "missing mode", setup: func(e *env) req {
			return post(rulesPath(zone), map[string]any{"configuration": map[string]any{"target": "ip", "value": "192.0.2.1"}})
		}, status: 400, code: CodeMissingField},
		{name: "duplicate in zone", setup: func(e *env) req {
			mk(e, zone, rule("block", "ip", "192.0.2.1"))
			return post(rulesPath(zone), rule("challenge", "ip", "192.0.2.1"))
		}, status: 409, code: CodeAccessRuleDuplicate},
		{name: "same value other scope", setup: func(e *env) req {
			mk(e, zone, rule("block", "ip", "192.0.2.1"))
			return post(rulesPath(acct), rule("block", "ip", "192.0.2.1"))
		}, status: 200},
		{name: "patch mode", setup: func(e *env) req {
			return patch(rulesPath(zone, mk(e, zone, rule("block", "ip", "192.0.2.1"))), map[string]any{"mode": "challenge"})
		}, status: 200},
		{name: "patch bad mode", setup: func(e *env) req {
			return patch(rulesPath(zone, mk(e, zone, rule("block", "ip", "192.0.2.1"))), map[string]any{"mode": "x"})
		}, status: 400, code: CodeAccessRuleMode},
		{name: "get through other scope", setup: func(e *env) req {
			return req{"GET", rulesPath(acct, mk(e, zone, rule("block", "ip", "192.0.2.1"))), nil, authA}
		}, status: 404, code: CodeNotFound},
		{name: "zone of other account", setup: func(e *env) req { return post(rulesPath("zones/"+zoneB), rule("block", "ip", "192.0.2.1")) }, status: 404, code: CodeNotFound},
		{name: "account of other credential", setup: func(e *env) req { return post(rulesPath("accounts/"+acctB), rule("block", "ip", "192.0.2.1")) }, status: 404, code: CodeNotFound},
		{name: "delete unknown", setup: func(e *env) req { return delReq(rulesPath(zone, newID())) }, status: 404, code: CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpt{})
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

// TestSDKAccessRules: the round trip through cloudflare-go v6.10.0 for
// zone and account rules, and their compiled form in the Snapshot.
func TestSDKAccessRules(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	ctx := t.Context()
	a := keyClient(e.hs.URL, emailA, keyA)
	zr, err := a.Firewall.AccessRules.New(ctx, firewall.AccessRuleNewParams{
		ZoneID: cloudflare.F(zoneA), Mode: cloudflare.F(firewall.AccessRuleNewParamsModeBlock), Notes: cloudflare.F("bad host"),
		Configuration: cloudflare.F[firewall.AccessRuleNewParamsConfigurationUnion](firewall.AccessRuleIPConfigurationParam{
			Target: cloudflare.F(firewall.AccessRuleIPConfigurationTargetIP), Value: cloudflare.F("192.0.2.1"),
		}),
	})
	if err != nil || zr.Mode != firewall.AccessRuleNewResponseModeBlock || zr.Configuration.Value != "192.0.2.1" || zr.Notes != "bad host" {
		t.Fatalf("AccessRules.New(zone): %v %+v", err, zr)
	}
	ar, err := a.Firewall.AccessRules.New(ctx, firewall.AccessRuleNewParams{
		AccountID: cloudflare.F(acctA), Mode: cloudflare.F(firewall.AccessRuleNewParamsModeChallenge),
		Configuration: cloudflare.F[firewall.AccessRuleNewParamsConfigurationUnion](firewall.AccessRuleCIDRConfigurationParam{
			Target: cloudflare.F(firewall.AccessRuleCIDRConfigurationTargetIPRange), Value: cloudflare.F("192.0.2.0/24"),
		}),
	})
	if err != nil || ar.Configuration.Target != firewall.AccessRuleNewResponseConfigurationTargetIPRange {
		t.Fatalf("AccessRules.New(account): %v %+v", err, ar)
	}
	got, err := a.Firewall.AccessRules.Get(ctx, zr.ID, firewall.AccessRuleGetParams{ZoneID: cloudflare.F(zoneA)})
	if err != nil || got.ID != zr.ID {
		t.Fatalf("AccessRules.Get: %v %+v", err, got)
	}
	ed, err := a.Firewall.AccessRules.Edit(ctx, zr.ID, firewall.AccessRuleEditParams{
		ZoneID: cloudflare.F(zoneA), Mode: cloudflare.F(firewall.AccessRuleEditParamsModeWhitelist),
		Configuration: cloudflare.F[firewall.AccessRuleEditParamsConfigurationUnion](firewall.AccessRuleIPConfigurationParam{
			Target: cloudflare.F(firewall.AccessRuleIPConfigurationTargetIP), Value: cloudflare.F("192.0.2.1"),
		}),
	})
	if err != nil || ed.Mode != firewall.AccessRuleEditResponseModeWhitelist {
		t.Fatalf("AccessRules.Edit: %v %+v", err, ed)
	}
	var n int
	iter := a.Firewall.AccessRules.ListAutoPaging(ctx, firewall.AccessRuleListParams{AccountID: cloudflare.F(acctA)})
	for iter.Next() {
		n++
	}
	if err := iter.Err(); err != nil || n != 1 {
		t.Fatalf("AccessRules.List(account): %v, %d rules", err, n)
	}

	snap, err := config.Compile(e.srv.State(), e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, mode string
		ok         bool
	}{{"192.0.2.1", "whitelist", true}, {"192.0.2.2", "challenge", true}, {"198.51.100.1", "", false}} {
		m, ok := snap.Access(zoneA, acctA, netip.MustParseAddr(tc.addr))
		if ok != tc.ok || m.Mode != tc.mode {
			t.Errorf("Access(%s) = %+v, %v; want %s", tc.addr, m, ok, tc.mode)
		}
	}
	if m, ok := snap.Access(zoneB, acctB, netip.MustParseAddr("192.0.2.1")); ok {
		t.Errorf("another account's zone matched %+v", m)
	}

	del, err := a.Firewall.AccessRules.Delete(ctx, zr.ID, firewall.AccessRuleDeleteParams{ZoneID: cloudflare.F(zoneA)})
	if err != nil || del.ID != zr.ID {
		t.Fatalf("AccessRules.Delete: %v %+v", err, del)
	}
	_, err = a.Firewall.AccessRules.Get(ctx, zr.ID, firewall.AccessRuleGetParams{ZoneID: cloudflare.F(zoneA)})
	apiErr(t, "Get after delete", err, 404, CodeNotFound)
}
