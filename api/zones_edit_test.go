package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cloudflare "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/zones"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/store"
)

func zonePath(id string) string { return "/client/v4/zones/" + id }

// createZone adds a zone through the API and returns its ID.
func (e *env) createZone(name, acct string, a auth) string {
	e.t.Helper()
	var z zoneView
	e.must("POST", "/client/v4/zones", map[string]any{"name": name, "account": map[string]any{"id": acct}}, a, &z)
	return z.ID
}

// answers compiles the server's current state as the DNS responder does
// and returns the answers by name.
func (e *env) answers() map[string]config.DNSAnswer {
	e.t.Helper()
	d := testDaemon(nil)
	snap, err := config.CompileWith(e.srv.State(), e.clk.Now(), config.CompileOptions{AnycastPool: d.Pool(), ManagedAddressMaps: d.ManagedAddressMaps()})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]config.DNSAnswer{}
	for _, a := range snap.DNSAnswers() {
		out[a.Name] = a
	}
	return out
}

// TestZoneEditDeleteRules drives zone PATCH and DELETE through HTTP: every
// success and error path, and that a rejected request changes nothing.
func TestZoneEditDeleteRules(t *testing.T) {
	t.Parallel()
	own := func(e *env) string { return e.createZone("example.org", acctA, authA) }
	tests := []struct {
		name   string
		setup  func(e *env) req
		status int
		code   Code
	}{
		{name: "pause", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{"paused": true}) }, status: 200},
		{name: "unpause unchanged", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{"paused": false}) }, status: 200},
		{name: "type full", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{"type": "full"}) }, status: 200},
		{name: "vanity name servers", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"vanity_name_servers": []string{"ns1.example.org", "NS2.example.org."}})
		}, status: 200},
		{name: "vanity name servers cleared", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"vanity_name_servers": []string{}})
		}, status: 200},
		{name: "without /client/v4", setup: func(e *env) req { return patch("/zones/"+own(e), map[string]any{"paused": true}) }, status: 200},
		{name: "token with write", setup: func(e *env) req {
			return req{"PATCH", zonePath(own(e)), map[string]any{"paused": true}, bearer(tokenA)}
		}, status: 200},
		{name: "type partial", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{"type": "partial"}) }, status: 400, code: CodeZoneName},
		{name: "type unknown", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{"type": "bogus"}) }, status: 400, code: CodeZoneName},
		{name: "name immutable", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{"name": "example.info"}) }, status: 400, code: CodeZoneImmutable},
		{name: "name null immutable", setup: func(e *env) req { return patch(zonePath(own(e)), `{"name":null}`) }, status: 400, code: CodeZoneImmutable},
		{name: "account immutable", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"account": map[string]any{"id": acctB}})
		}, status: 400, code: CodeZoneImmutable},
		{name: "immutable beside editable", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"paused": true, "status": "active"})
		}, status: 400, code: CodeZoneImmutable},
		{name: "plan immutable", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"plan": map[string]any{"id": "x"}})
		}, status: 400, code: CodeZoneImmutable},
		{name: "unknown field", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{"colour": "blue"}) }, status: 400, code: CodeUnknownField},
		{name: "two properties", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"paused": true, "type": "full"})
		}, status: 400, code: CodeZoneEditOne},
		{name: "empty object", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{}) }, status: 400, code: CodeZoneEditOne},
		{name: "empty body", setup: func(e *env) req { return patch(zonePath(own(e)), "") }, status: 400, code: CodeZoneEditOne},
		{name: "paused null", setup: func(e *env) req { return patch(zonePath(own(e)), `{"paused":null}`) }, status: 400, code: CodeZoneEditOne},
		{name: "bad json", setup: func(e *env) req { return patch(zonePath(own(e)), `{"paused":`) }, status: 400, code: CodeBadJSON},
		{name: "trailing data", setup: func(e *env) req { return patch(zonePath(own(e)), `{"paused":true} {}`) }, status: 400, code: CodeBadJSON},
		{name: "not an object", setup: func(e *env) req { return patch(zonePath(own(e)), `[true]`) }, status: 400, code: CodeFieldType},
		{name: "paused string", setup: func(e *env) req { return patch(zonePath(own(e)), map[string]any{"paused": "yes"}) }, status: 400, code: CodeFieldType},
		{name: "vanity not a list", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"vanity_name_servers": "ns1.example.org"})
		}, status: 400, code: CodeFieldType},
		{name: "vanity bad name", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"vanity_name_servers": []string{"ns 1.example.org"}})
		}, status: 400, code: CodeZoneVanityNS},
		{name: "vanity duplicate", setup: func(e *env) req {
			return patch(zonePath(own(e)), map[string]any{"vanity_name_servers": []string{"ns1.example.org", "ns1.example.org."}})
		}, status: 400, code: CodeZoneVanityNS},
		{name: "body too large", setup: func(e *env) req {
			return patch(zonePath(own(e)), `{"vanity_name_servers":["`+strings.Repeat("a", maxBody)+`"]}`)
		}, status: 413, code: CodeBodyTooLarge},
		{name: "patch config zone", setup: func(e *env) req { return patch(zonePath(zoneA), map[string]any{"paused": true}) }, status: 400, code: CodeZoneConfigured},
		{name: "patch unknown zone", setup: func(e *env) req { return patch(zonePath(newID()), map[string]any{"paused": true}) }, status: 404, code: CodeNotFound},
		{name: "patch other account's zone", setup: func(e *env) req {
			id := e.createZone("example.org", acctB, authB)
			return patch(zonePath(id), map[string]any{"paused": true})
		}, status: 404, code: CodeNotFound},
		{name: "patch other account's config zone", setup: func(e *env) req { return patch(zonePath(zoneB), map[string]any{"paused": true}) }, status: 404, code: CodeNotFound},
		{name: "patch read token", setup: func(e *env) req {
			return req{"PATCH", zonePath(own(e)), map[string]any{"paused": true}, bearer(tokenRead)}
		}, status: 403, code: CodeForbidden},
		{name: "patch no auth", setup: func(e *env) req { return req{"PATCH", zonePath(own(e)), map[string]any{"paused": true}, noAuth} }, status: 400, code: CodeMissingAuth},
		{name: "patch wrong key", setup: func(e *env) req {
			return req{"PATCH", zonePath(own(e)), map[string]any{"paused": true}, key(emailA, keyB)}
		}, status: 403, code: CodeAuth},
		{name: "delete", setup: func(e *env) req { return delReq(zonePath(own(e))) }, status: 200},
		{name: "delete with contents", setup: func(e *env) req {
			id := own(e)
			e.must("POST", recPath(id), rec("A", "www", "192.0.2.1", "proxied", true), authA, nil)
			e.must("POST", rulesPath("zones/"+id), rule("block", "ip", "192.0.2.1"), authA, nil)
			return delReq(zonePath(id))
		}, status: 200},
		{name: "delete twice", setup: func(e *env) req {
			id := own(e)
			e.must("DELETE", zonePath(id), nil, authA, nil)
			return delReq(zonePath(id))
		}, status: 404, code: CodeNotFound},
		{name: "delete config zone", setup: func(e *env) req { return delReq(zonePath(zoneA)) }, status: 400, code: CodeZoneConfigured},
		{name: "delete unknown zone", setup: func(e *env) req { return delReq(zonePath(newID())) }, status: 404, code: CodeNotFound},
		{name: "delete malformed id", setup: func(e *env) req { return delReq(zonePath("not-an-id")) }, status: 404, code: CodeNotFound},
		{name: "delete other account's zone", setup: func(e *env) req { return delReq(zonePath(e.createZone("example.org", acctB, authB))) }, status: 404, code: CodeNotFound},
		{name: "delete other account's config zone", setup: func(e *env) req { return delReq(zonePath(zoneB)) }, status: 404, code: CodeNotFound},
		{name: "delete read token", setup: func(e *env) req { return req{"DELETE", zonePath(own(e)), nil, bearer(tokenRead)} }, status: 403, code: CodeForbidden},
		{name: "delete token of B", setup: func(e *env) req { return req{"DELETE", zonePath(own(e)), nil, bearer(tokenB)} }, status: 404, code: CodeNotFound},
		{name: "put not allowed", setup: func(e *env) req { return req{"PUT", zonePath(own(e)), map[string]any{"paused": true}, authA} }, status: 405, code: CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpt{})
			e.spectrumSetup()
			rq := tt.setup(e)
			before := e.srv.State()
			r := e.do(rq.method, rq.path, rq.body, rq.auth)
			if r.Status != tt.status || r.code() != tt.code {
				t.Fatalf("%s %s = %d code %d, want %d code %d\n%s", rq.method, rq.path, r.Status, r.code(), tt.status, tt.code, r.Raw)
			}
			if tt.status >= 400 {
				if !statesEqual(before, e.srv.State()) {
					t.Errorf("a rejected request changed the state")
				}
				if r.Header.Get("X-Should-Retry") != "false" {
					t.Errorf("x-should-retry = %q, want false", r.Header.Get("X-Should-Retry"))
				}
			}
		})
	}
}

// TestZoneEditResult: PATCH answers the whole zone, changes modified_on
// only when something changed, and normalizes vanity name servers.
func TestZoneEditResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	id := e.createZone("example.org", acctA, authA)
	created := e.clk.Now()
	e.clk.FastForward(time.Minute)
	var z zoneView
	e.must("PATCH", zonePath(id), map[string]any{"paused": true}, authA, &z)
	if z.ID != id || z.Name != "example.org" || !z.Paused || z.Type != "full" || !z.CreatedOn.Equal(created) || !z.ModifiedOn.Equal(e.clk.Now()) {
		t.Fatalf("PATCH paused: %+v", z)
	}
	e.clk.FastForward(time.Minute)
	e.must("PATCH", zonePath(id), map[string]any{"paused": true}, authA, &z)
	if !z.ModifiedOn.Equal(created.Add(time.Minute)) {
		t.Errorf("a PATCH that changes nothing moved modified_on to %v", z.ModifiedOn)
	}
	e.must("PATCH", zonePath(id), map[string]any{"vanity_name_servers": []string{"NS1.example.org.", "ns2.example.org"}}, authA, &z)
	if !slices.Equal(z.VanityNameServers, []string{"ns1.example.org", "ns2.example.org"}) || !z.Paused {
		t.Fatalf("PATCH vanity_name_servers: %+v", z)
	}
	var got zoneView
	e.must("GET", zonePath(id), nil, authA, &got)
	if mustJSON(got) != mustJSON(z) {
		t.Errorf("GET after PATCH:\n%s\nwant\n%s", mustJSON(got), mustJSON(z))
	}
	var cleared zoneView
	e.must("PATCH", zonePath(id), map[string]any{"vanity_name_servers": []string{}}, authA, &cleared)
	if cleared.VanityNameServers != nil || !cleared.Paused || strings.Contains(string(e.must("GET", zonePath(id), nil, authA, nil).Raw), "vanity_name_servers") {
		t.Errorf("vanity_name_servers not cleared: %+v", cleared)
	}
}

// countingStore counts successful Apply and ApplyIf calls.
type countingStore struct {
	store.Store
	applies atomic.Int64
}

func (c *countingStore) Apply(ctx context.Context, ops ...store.Op) (store.Rev, error) {
	rev, err := c.Store.Apply(ctx, ops...)
	if err == nil {
		c.applies.Add(1)
	}
	return rev, err
}

func (c *countingStore) ApplyIf(ctx context.Context, rev store.Rev, ops ...store.Op) (store.Rev, error) {
	rev, err := c.Store.ApplyIf(ctx, rev, ops...)
	if err == nil {
		c.applies.Add(1)
	}
	return rev, err
}

// TestZoneDeleteCascade: deleting a zone deletes its DNS records, Spectrum
// apps and zone-level access rules and removes it from address maps, in one
// store Apply; its names leave the DNS answer set; nothing else changes;
// the result survives a restart; the name can be created again.
func TestZoneDeleteCascade(t *testing.T) {
	t.Parallel()
	cs := &countingStore{Store: store.NewMemory()}
	e := newEnv(t, envOpt{store: cs})
	e.spectrumSetup()
	id := e.createZone("example.org", acctA, authA)

	var www, keep dnsRecordView
	e.must("POST", recPath(id), rec("A", "www", "192.0.2.10", "proxied", true), authA, &www)
	e.must("POST", recPath(id), rec("TXT", "_hello", "hi"), authA, nil)
	e.must("POST", recPath(id), rec("CNAME", "api", "origin.example.com"), authA, nil)
	e.must("POST", recPath(zoneA), rec("A", "keep", "192.0.2.20", "proxied", true), authA, &keep)
	var dynApp, staticApp, otherApp spectrumAppView
	e.must("POST", appsPath(id), app(set("dns", map[string]any{"type": "CNAME", "name": "ssh.example.org"})), authA, &dynApp)
	e.must("POST", appsPath(id), app(set("dns", map[string]any{"type": "ADDRESS", "name": "edge.example.org"}, "edge_ips", static("203.0.113.17"))), authA, &staticApp)
	e.must("POST", appsPath(zoneA), app(nil), authA, &otherApp)
	var zoneRule, acctRule, otherRule accessRuleView
	e.must("POST", rulesPath("zones/"+id), rule("block", "ip", "192.0.2.1"), authA, &zoneRule)
	e.must("POST", rulesPath("accounts/"+acctA), rule("block", "ip", "192.0.2.2"), authA, &acctRule)
	e.must("POST", rulesPath("zones/"+zoneA), rule("block", "ip", "192.0.2.3"), authA, &otherRule)
	member := func(z string) map[string]any { return map[string]any{"identifier": z, "kind": "zone"} }
	var both, only addressMapFullView
	e.must("POST", mapPath(acctA), map[string]any{"enabled": true, "ips": []string{"203.0.113.1"}, "memberships": []any{member(id), member(zoneA)}}, authA, &both)
	e.must("POST", mapPath(acctA), map[string]any{"enabled": true, "ips": []string{"203.0.113.2"}, "memberships": []any{member(id)}}, authA, &only)
	idB := e.createZone("example.info", acctB, authB)
	e.must("POST", recPath(idB), rec("A", "www", "192.0.2.30"), authB, nil)

	inZone := func(ans map[string]config.DNSAnswer) []string {
		var names []string
		for n, a := range ans {
			if a.Zone == "example.org" || config.InZone(n, "example.org") {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return names
	}
	ans := e.answers()
	if got := inZone(ans); len(got) != 6 { // www, _hello, api, ssh + its target, edge
		t.Fatalf("answers in example.org before delete: %v", got)
	}
	if w := ans["www.example.org"]; w.Source != config.AnswerProxied || !slices.Equal(w.AddressMapIDs, slices.Sorted(slices.Values([]string{both.ID, only.ID}))) {
		t.Fatalf("www.example.org before delete: %+v", w)
	}

	before := e.srv.State()
	e.clk.FastForward(time.Minute)
	applies := cs.applies.Load()
	var res struct {
		ID string `json:"id"`
	}
	r := e.must("DELETE", zonePath(id), nil, authA, &res)
	if res.ID != id || string(r.Env.Result) != `{"id":"`+id+`"}` {
		t.Fatalf("DELETE result %s, want {\"id\":%q}", r.Env.Result, id)
	}
	if n := cs.applies.Load() - applies; n != 1 {
		t.Errorf("DELETE used %d store Applies, want 1", n)
	}

	st := e.srv.State()
	if _, ok := st.Zones[id]; ok {
		t.Error("zone still in the state")
	}
	for rid, rr := range st.DNSRecords {
		if rr.ZoneID == id {
			t.Errorf("record %s of the deleted zone left", rid)
		}
	}
	if len(st.DNSRecords) != 2 || st.DNSRecords[keep.ID] == nil {
		t.Errorf("records after delete: %v", mustJSON(st.DNSRecords))
	}
	if len(st.SpectrumApps) != 1 || st.SpectrumApps[otherApp.ID] == nil {
		t.Errorf("apps after delete: %v", mustJSON(st.SpectrumApps))
	}
	if len(st.AccessRules) != 2 || st.AccessRules[acctRule.ID] == nil || st.AccessRules[otherRule.ID] == nil {
		t.Errorf("access rules after delete: %v", mustJSON(st.AccessRules))
	}
	if m := st.AddressMaps[both.ID]; m == nil || len(m.Memberships) != 1 || !m.HasMember(config.MemberZone, zoneA) || !m.ModifiedAt.Equal(e.clk.Now()) {
		t.Errorf("map with two memberships after delete: %s", mustJSON(m))
	}
	if m := st.AddressMaps[only.ID]; m == nil || len(m.Memberships) != 0 || len(m.IPs) != 1 || !m.Enabled {
		t.Errorf("map with only the zone's membership after delete: %s", mustJSON(m))
	}
	// Everything outside the zone's objects and the two maps is unchanged.
	for _, m := range []map[string]*config.AddressMap{before.AddressMaps, st.AddressMaps} {
		delete(m, both.ID)
		delete(m, only.ID)
	}
	if mustJSON(before.Prefixes) != mustJSON(st.Prefixes) || mustJSON(before.Bindings) != mustJSON(st.Bindings) ||
		mustJSON(before.BGPPrefixes) != mustJSON(st.BGPPrefixes) || mustJSON(before.Delegations) != mustJSON(st.Delegations) ||
		mustJSON(before.AddressMaps) != mustJSON(st.AddressMaps) || st.Zones[idB] == nil {
		t.Error("the delete changed objects outside the zone")
	}
	if err := st.Check(); err != nil {
		t.Errorf("state after delete: %v", err)
	}

	ans = e.answers()
	if got := inZone(ans); len(got) != 0 {
		t.Errorf("answers in example.org after delete: %v", got)
	}
	if k := ans["keep.example.net"]; k.Source != config.AnswerProxied || !slices.Equal(k.AddressMapIDs, []string{both.ID}) {
		t.Errorf("keep.example.net after delete: %+v", k)
	}
	var v dnsView
	e.must("GET", "/admin/v1/dns", nil, noAuth, &v)
	for _, a := range v.Answers {
		if a.Zone == "example.org" {
			t.Errorf("/admin/v1/dns still answers %s", a.Name)
		}
	}

	for _, p := range []string{zonePath(id), recPath(id), recPath(id, www.ID), appsPath(id), appsPath(id, dynApp.ID), rulesPath("zones/" + id)} {
		if r := e.do("GET", p, nil, authA); r.Status != 404 || r.code() != CodeNotFound {
			t.Errorf("GET %s after delete = %d code %d", p, r.Status, r.code())
		}
	}
	if r := e.do("POST", recPath(id), rec("A", "www", "192.0.2.1"), authA); r.Status != 404 {
		t.Errorf("POST record into the deleted zone = %d", r.Status)
	}
	var list []zoneView
	e.must("GET", "/client/v4/zones", nil, authA, &list)
	if len(list) != 1 || list[0].ID != zoneA {
		t.Errorf("zones after delete: %+v", list)
	}

	// Restart: the zone stays deleted, the config zones are still there.
	state := mustJSON(e.srv.State())
	e.srv.Close()
	e2 := newEnv(t, envOpt{store: cs, clk: e.clk})
	if got := mustJSON(e2.srv.State()); got != state {
		t.Fatalf("state after restart:\n%s\nwant\n%s", got, state)
	}
	if r := e2.do("GET", zonePath(id), nil, authA); r.Status != 404 {
		t.Errorf("deleted zone after restart = %d", r.Status)
	}
	e2.must("GET", zonePath(zoneA), nil, authA, nil)

	// The name is free again; the new zone starts empty (the freed
	// Spectrum ports and names can be used again).
	id2 := e2.createZone("example.org", acctA, authA)
	if id2 == id {
		t.Fatal("re-created zone reuses the old ID")
	}
	var recs []dnsRecordView
	e2.must("GET", recPath(id2), nil, authA, &recs)
	if len(recs) != 0 {
		t.Errorf("re-created zone has records: %+v", recs)
	}
	e2.must("POST", appsPath(id2), app(set("dns", map[string]any{"type": "ADDRESS", "name": "edge.example.org"}, "edge_ips", static("203.0.113.17"))), authA, nil)
}

// TestZoneDeleteStoreFailure: a failed Apply is a 500 and leaves the zone
// and all its objects in place; the retry then deletes everything.
func TestZoneDeleteStoreFailure(t *testing.T) {
	t.Parallel()
	fs := &failingStore{Store: store.NewMemory()}
	e := newEnv(t, envOpt{store: fs})
	id := e.createZone("example.org", acctA, authA)
	e.must("POST", recPath(id), rec("A", "www", "192.0.2.1"), authA, nil)
	e.must("POST", rulesPath("zones/"+id), rule("block", "ip", "192.0.2.1"), authA, nil)
	e.must("POST", mapPath(acctA), map[string]any{"memberships": []any{map[string]any{"identifier": id, "kind": "zone"}}}, authA, nil)
	before := e.srv.State()
	fs.fail.Store(true)
	for _, rq := range []req{delReq(zonePath(id)), patch(zonePath(id), map[string]any{"paused": true})} {
		if r := e.do(rq.method, rq.path, rq.body, rq.auth); r.Status != 500 || r.code() != CodeInternal {
			t.Errorf("%s with a failing store = %d code %d", rq.method, r.Status, r.code())
		}
	}
	if !statesEqual(before, e.srv.State()) {
		t.Fatal("failed writes changed the in-memory state")
	}
	// Nothing reached the store either: a restart sees the same state.
	fs.fail.Store(false)
	e2 := newEnv(t, envOpt{store: fs, clk: e.clk})
	if !statesEqual(before, e2.srv.State()) {
		t.Fatal("a failed delete was partly persisted")
	}
	e.must("DELETE", zonePath(id), nil, authA, nil)
	st := e.srv.State()
	if len(st.Zones) != 0 || len(st.DNSRecords) != 0 || len(st.AccessRules) != 0 || len(st.AddressMaps) != 1 || len(st.AddressMaps[firstKey(st.AddressMaps)].Memberships) != 0 {
		t.Fatalf("state after the retried delete: %s", mustJSON(st))
	}
}

func firstKey[T any](m map[string]*T) string {
	for k := range m {
		return k
	}
	return ""
}

// TestZonePausedDNS: a paused zone's proxied records answer their own
// content; unpausing brings the edge answer back.
func TestZonePausedDNS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	id := e.createZone("example.org", acctA, authA)
	e.must("POST", recPath(id), rec("A", "www", "192.0.2.10", "proxied", true, "ttl", 120), authA, nil)
	want := func(source, a string) {
		t.Helper()
		w := e.answers()["www.example.org"]
		if w.Source != source || len(w.A) != 1 || w.A[0].String() != a {
			t.Fatalf("www.example.org = %+v, want %s %s", w, source, a)
		}
	}
	want(config.AnswerProxied, "198.51.100.1")
	e.must("PATCH", zonePath(id), map[string]any{"paused": true}, authA, nil)
	want(config.AnswerRecord, "192.0.2.10")
	var r []dnsRecordView
	e.must("GET", recPath(id), nil, authA, &r)
	if len(r) != 1 || !r[0].Proxied {
		t.Errorf("pausing changed the record: %+v", r)
	}
	e.must("PATCH", zonePath(id), map[string]any{"paused": false}, authA, nil)
	want(config.AnswerProxied, "198.51.100.1")
}

// TestZoneEditRestart: edits persist; config zones, which the API cannot
// delete, come back unchanged (nothing to resurrect).
func TestZoneEditRestart(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	e1 := newEnv(t, envOpt{store: st})
	id := e1.createZone("example.org", acctA, authA)
	gone := e1.createZone("example.info", acctA, authA)
	e1.must("PATCH", zonePath(id), map[string]any{"paused": true}, authA, nil)
	e1.must("PATCH", zonePath(id), map[string]any{"vanity_name_servers": []string{"ns1.example.org"}}, authA, nil)
	e1.must("DELETE", zonePath(gone), nil, authA, nil)
	if r := e1.do("DELETE", zonePath(zoneA), nil, authA); r.code() != CodeZoneConfigured {
		t.Fatalf("DELETE config zone = %d code %d", r.Status, r.code())
	}
	list := string(e1.must("GET", "/client/v4/zones", nil, authA, nil).Raw)
	e1.srv.Close()
	e2 := newEnv(t, envOpt{store: st, clk: e1.clk})
	if got := string(e2.must("GET", "/client/v4/zones", nil, authA, nil).Raw); got != list {
		t.Errorf("zones after restart:\n%s\nwant\n%s", got, list)
	}
	var z zoneView
	e2.must("GET", zonePath(id), nil, authA, &z)
	if !z.Paused || !slices.Equal(z.VanityNameServers, []string{"ns1.example.org"}) {
		t.Errorf("zone after restart: %+v", z)
	}
	if r := e2.do("GET", zonePath(gone), nil, authA); r.Status != http.StatusNotFound {
		t.Errorf("deleted zone after restart = %d", r.Status)
	}
}

// TestZoneDeleteRace: records, apps and rules created while their zone is
// being deleted never outlive it (authorize looks the zone up before the
// handler takes the lock).
func TestZoneDeleteRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	for i := range 20 {
		id := e.createZone("example.org", acctA, authA)
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.do("POST", recPath(id), rec("A", "www", "192.0.2.1"), authA)
			e.do("POST", rulesPath("zones/"+id), rule("block", "ip", "192.0.2.1"), authA)
		}()
		e.must("DELETE", zonePath(id), nil, authA, nil)
		<-done
		st := e.srv.State()
		if len(st.DNSRecords) != 0 || len(st.AccessRules) != 0 {
			t.Fatalf("round %d: objects outlived their zone: %s", i, mustJSON(st))
		}
	}
}

// TestSDKZoneEditDelete: Zones.Edit and Zones.Delete through cloudflare-go
// v6.10.0, with their error paths.
func TestSDKZoneEditDelete(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	ctx := t.Context()
	a := keyClient(e.hs.URL, emailA, keyA)
	z, err := a.Zones.New(ctx, zones.ZoneNewParams{Account: cloudflare.F(zones.ZoneNewParamsAccount{ID: cloudflare.F(acctA)}), Name: cloudflare.F("example.org")})
	if err != nil {
		t.Fatalf("Zones.New: %v", err)
	}
	ed, err := a.Zones.Edit(ctx, zones.ZoneEditParams{ZoneID: cloudflare.F(z.ID), Paused: cloudflare.F(true)})
	if err != nil || !ed.Paused || ed.ID != z.ID || ed.Name != "example.org" || ed.Type != zones.TypeFull {
		t.Fatalf("Zones.Edit(paused): %v %+v", err, ed)
	}
	ed, err = a.Zones.Edit(ctx, zones.ZoneEditParams{ZoneID: cloudflare.F(z.ID), VanityNameServers: cloudflare.F([]string{"ns1.example.org", "ns2.example.org"})})
	if err != nil || !slices.Equal(ed.VanityNameServers, []string{"ns1.example.org", "ns2.example.org"}) || !ed.Paused {
		t.Fatalf("Zones.Edit(vanity_name_servers): %v %+v", err, ed)
	}
	ed, err = a.Zones.Edit(ctx, zones.ZoneEditParams{ZoneID: cloudflare.F(z.ID), Type: cloudflare.F(zones.ZoneEditParamsTypeFull)})
	if err != nil || ed.Type != zones.TypeFull {
		t.Fatalf("Zones.Edit(type full): %v %+v", err, ed)
	}
	_, err = a.Zones.Edit(ctx, zones.ZoneEditParams{ZoneID: cloudflare.F(z.ID), Type: cloudflare.F(zones.ZoneEditParamsTypePartial)})
	apiErr(t, "Zones.Edit(type partial)", err, 400, CodeZoneName)
	_, err = a.Zones.Edit(ctx, zones.ZoneEditParams{ZoneID: cloudflare.F(z.ID), Paused: cloudflare.F(false), Type: cloudflare.F(zones.ZoneEditParamsTypeFull)})
	apiErr(t, "Zones.Edit(two properties)", err, 400, CodeZoneEditOne)
	_, err = a.Zones.Edit(ctx, zones.ZoneEditParams{ZoneID: cloudflare.F(zoneA), Paused: cloudflare.F(true)})
	apiErr(t, "Zones.Edit(config zone)", err, 400, CodeZoneConfigured)
	_, err = a.Zones.Edit(ctx, zones.ZoneEditParams{ZoneID: cloudflare.F(zoneB), Paused: cloudflare.F(true)})
	apiErr(t, "Zones.Edit(zone of B)", err, 404, CodeNotFound)

	rec, err := a.DNS.Records.New(ctx, dns.RecordNewParams{ZoneID: cloudflare.F(z.ID), Body: dns.ARecordParam{
		Name: cloudflare.F("www.example.org"), TTL: cloudflare.F(dns.TTL(1)), Type: cloudflare.F(dns.ARecordTypeA), Content: cloudflare.F("192.0.2.10"),
	}})
	if err != nil {
		t.Fatalf("Records.New: %v", err)
	}
	del, err := a.Zones.Delete(ctx, zones.ZoneDeleteParams{ZoneID: cloudflare.F(z.ID)})
	if err != nil || del.ID != z.ID {
		t.Fatalf("Zones.Delete: %v %+v", err, del)
	}
	_, err = a.Zones.Get(ctx, zones.ZoneGetParams{ZoneID: cloudflare.F(z.ID)})
	apiErr(t, "Zones.Get after delete", err, 404, CodeNotFound)
	_, err = a.DNS.Records.Get(ctx, rec.ID, dns.RecordGetParams{ZoneID: cloudflare.F(z.ID)})
	apiErr(t, "Records.Get after zone delete", err, 404, CodeNotFound)
	_, err = a.Zones.Delete(ctx, zones.ZoneDeleteParams{ZoneID: cloudflare.F(z.ID)})
	apiErr(t, "Zones.Delete twice", err, 404, CodeNotFound)
	_, err = a.Zones.Delete(ctx, zones.ZoneDeleteParams{ZoneID: cloudflare.F(zoneA)})
	apiErr(t, "Zones.Delete(config zone)", err, 400, CodeZoneConfigured)
	b := keyClient(e.hs.URL, emailB, keyB)
	zb, err := b.Zones.New(ctx, zones.ZoneNewParams{Account: cloudflare.F(zones.ZoneNewParamsAccount{ID: cloudflare.F(acctB)}), Name: cloudflare.F("example.info")})
	if err != nil {
		t.Fatalf("Zones.New(B): %v", err)
	}
	_, err = a.Zones.Delete(ctx, zones.ZoneDeleteParams{ZoneID: cloudflare.F(zb.ID)})
	apiErr(t, "Zones.Delete(zone of B by A)", err, 404, CodeNotFound)
	if _, err := b.Zones.Delete(ctx, zones.ZoneDeleteParams{ZoneID: cloudflare.F(zb.ID)}); err != nil {
		t.Fatalf("Zones.Delete(B): %v", err)
	}
}
