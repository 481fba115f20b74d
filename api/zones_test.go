package api

import (
	"testing"

	cloudflare "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/zones"

	"github.com/edgesim/edgesim/config"
)

func recPath(zone string, rest ...string) string {
	p := "/client/v4/zones/" + zone + "/dns_records"
	for _, s := range rest {
		p += "/" + s
	}
	return p
}

func rec(typ, name, content string, kv ...any) map[string]any {
	m := map[string]any{"type": typ, "name": name, "content": content, "ttl": 1}
	set(kv...)(m)
	return m
}

// TestZoneAndRecordRules drives the zone and DNS record rules through HTTP.
func TestZoneAndRecordRules(t *testing.T) {
	t.Parallel()
	newZone := func(name, acct string) map[string]any {
		return map[string]any{"name": name, "account": map[string]any{"id": acct}}
	}
	created := func(e *env, body map[string]any) string {
		var v dnsRecordView
		e.must("POST", recPath(zoneA), body, authA, &v)
		return v.ID
	}
	tests := []struct {
		name   string
		setup  func(e *env) req
		status int
		code   Code
	}{
		{name: "zone create", setup: func(e *env) req { return post("/client/v4/zones", newZone("example.org", acctA)) }, status: 200},
		{name: "zone create type full", setup: func(e *env) req {
			m := newZone("example.org", acctA)
			m["type"] = "full"
			return post("/client/v4/zones", m)
		}, status: 200},
		{name: "zone type partial", setup: func(e *env) req {
			m := newZone("example.org", acctA)
			m["type"] = "partial"
			return post("/client/v4/zones", m)
		}, status: 400, code: CodeZoneName},
		{name: "zone duplicate of config", setup: func(e *env) req { return post("/client/v4/zones", newZone("Example.NET.", acctA)) }, status: 409, code: CodeZoneDuplicate},
		{name: "zone duplicate of created", setup: func(e *env) req {
			e.must("POST", "/client/v4/zones", newZone("example.org", acctA), authA, nil)
			return post("/client/v4/zones", newZone("example.org", acctA))
		}, status: 409, code: CodeZoneDuplicate},
		{name: "zone bad name", setup: func(e *env) req { return post("/client/v4/zones", newZone("localhost", acctA)) }, status: 400, code: CodeZoneName},
		{name: "zone other account", setup: func(e *env) req { return post("/client/v4/zones", newZone("example.org", acctB)) }, status: 404, code: CodeNotFound},
		{name: "zone missing account", setup: func(e *env) req { return post("/client/v4/zones", map[string]any{"name": "example.org"}) }, status: 400, code: CodeMissingField},
		{name: "zone get other account", setup: func(e *env) req { return req{"GET", "/client/v4/zones/" + zoneB, nil, authA} }, status: 404, code: CodeNotFound},
		{name: "zone read token create", setup: func(e *env) req {
			return req{"POST", "/client/v4/zones", newZone("example.org", acctA), bearer(tokenRead)}
		}, status: 403, code: CodeForbidden},
		{name: "record a", setup: func(e *env) req { return post(recPath(zoneA), rec("A", "www", "192.0.2.10", "proxied", true)) }, status: 200},
		{name: "record aaaa", setup: func(e *env) req { return post(recPath(zoneA), rec("AAAA", "www.example.net", "2001:DB8::10")) }, status: 200},
		{name: "record cname", setup: func(e *env) req {
			return post(recPath(zoneA), rec("CNAME", "@", "origin.example.org", "proxied", true))
		}, status: 200},
		{name: "record txt", setup: func(e *env) req { return post(recPath(zoneA), rec("TXT", "_x", "hello", "ttl", 3600)) }, status: 200},
		{name: "record mx", setup: func(e *env) req { return post(recPath(zoneA), rec("MX", "www", "mail.example.net")) }, status: 400, code: CodeDNSRecordType},
		{name: "record a with v6", setup: func(e *env) req { return post(recPath(zoneA), rec("A", "www", "2001:db8::1")) }, status: 400, code: CodeDNSRecordContent},
		{name: "record aaaa with v4", setup: func(e *env) req { return post(recPath(zoneA), rec("AAAA", "www", "192.0.2.1")) }, status: 400, code: CodeDNSRecordContent},
		{name: "record cname bad target", setup: func(e *env) req { return post(recPath(zoneA), rec("CNAME", "www", "not a name")) }, status: 400, code: CodeDNSRecordContent},
		{name: "record cname to itself", setup: func(e *env) req { return post(recPath(zoneA), rec("CNAME", "www", "www.example.net")) }, status: 400, code: CodeDNSRecordContent},
		{name: "record txt empty", setup: func(e *env) req { return post(recPath(zoneA), rec("TXT", "www", "")) }, status: 400, code: CodeDNSRecordContent},
		{name: "record bad name", setup: func(e *env) req { return post(recPath(zoneA), rec("A", "bad name", "192.0.2.1")) }, status: 400, code: CodeDNSRecordName},
		{name: "record ttl 30", setup: func(e *env) req { return post(recPath(zoneA), rec("A", "www", "192.0.2.1", "ttl", 30)) }, status: 400, code: CodeDNSRecordTTL},
		{name: "record ttl float", setup: func(e *env) req { return post(recPath(zoneA), rec("A", "www", "192.0.2.1", "ttl", 60.5)) }, status: 400, code: CodeDNSRecordTTL},
		{name: "record ttl string", setup: func(e *env) req { return post(recPath(zoneA), rec("A", "www", "192.0.2.1", "ttl", "60")) }, status: 400, code: CodeFieldType},
		{name: "record proxied txt", setup: func(e *env) req { return post(recPath(zoneA), rec("TXT", "www", "x", "proxied", true)) }, status: 400, code: CodeDNSRecordProxied},
		{name: "record comment long", setup: func(e *env) req {
			return post(recPath(zoneA), rec("A", "www", "192.0.2.1", "comment", string(make([]byte, 101))))
		}, status: 400, code: CodeDNSRecordComment},
		{name: "record missing content", setup: func(e *env) req { return post(recPath(zoneA), rec("A", "www", "", "content", nil)) }, status: 400, code: CodeMissingField},
		{name: "record identical", setup: func(e *env) req {
			created(e, rec("A", "www", "192.0.2.1"))
			return post(recPath(zoneA), rec("A", "www.example.net", "192.0.2.1"))
		}, status: 409, code: CodeDNSRecordConflict},
		{name: "record second a", setup: func(e *env) req {
			created(e, rec("A", "www", "192.0.2.1"))
			return post(recPath(zoneA), rec("A", "www", "192.0.2.2"))
		}, status: 200},
		{name: "record cname beside a", setup: func(e *env) req {
			created(e, rec("A", "www", "192.0.2.1"))
			return post(recPath(zoneA), rec("CNAME", "www", "origin.example.org"))
		}, status: 409, code: CodeDNSRecordConflict},
		{name: "record a beside cname", setup: func(e *env) req {
			created(e, rec("CNAME", "www", "origin.example.org"))
			return post(recPath(zoneA), rec("A", "www", "192.0.2.1"))
		}, status: 409, code: CodeDNSRecordConflict},
		{name: "record patch proxied", setup: func(e *env) req {
			return patch(recPath(zoneA, created(e, rec("A", "www", "192.0.2.1"))), map[string]any{"proxied": true})
		}, status: 200},
		{name: "record patch proxied txt", setup: func(e *env) req {
			return patch(recPath(zoneA, created(e, rec("TXT", "www", "x"))), map[string]any{"proxied": true})
		}, status: 400, code: CodeDNSRecordProxied},
		{name: "record put missing type", setup: func(e *env) req {
			return req{"PUT", recPath(zoneA, created(e, rec("A", "www", "192.0.2.1"))), map[string]any{"name": "www", "content": "192.0.2.2"}, authA}
		}, status: 400, code: CodeMissingField},
		{name: "record put into conflict", setup: func(e *env) req {
			created(e, rec("A", "www", "192.0.2.1"))
			id := created(e, rec("A", "api", "192.0.2.1"))
			return req{"PUT", recPath(zoneA, id), rec("A", "www", "192.0.2.1"), authA}
		}, status: 409, code: CodeDNSRecordConflict},
		{name: "record get other zone", setup: func(e *env) req {
			id := created(e, rec("A", "www", "192.0.2.1"))
			return req{"GET", recPath(zoneB, id), nil, authB}
		}, status: 404, code: CodeNotFound},
		{name: "record delete unknown", setup: func(e *env) req { return delReq(recPath(zoneA, newID())) }, status: 404, code: CodeNotFound},
		{name: "record in created zone", setup: func(e *env) req {
			var z zoneView
			e.must("POST", "/client/v4/zones", newZone("example.org", acctA), authA, &z)
			return post(recPath(z.ID), rec("A", "www", "192.0.2.1"))
		}, status: 200},
		{name: "record on a spectrum name", setup: func(e *env) req {
			e.must("POST", appsPath(zoneA), app(nil), authA, nil)
			return post(recPath(zoneA), rec("TXT", "ssh", "x"))
		}, status: 409, code: CodeDNSRecordSpectrum},
		{name: "record on a spectrum target", setup: func(e *env) req {
			e.must("POST", appsPath(zoneA), app(nil), authA, nil)
			return post(recPath(zoneA), rec("A", config.SpectrumTarget("ssh.example.net", "example.net"), "192.0.2.1"))
		}, status: 409, code: CodeDNSRecordSpectrum},
		{name: "record list bad proxied", setup: func(e *env) req { return req{"GET", recPath(zoneA) + "?proxied=maybe", nil, authA} }, status: 400, code: CodeBadQuery},
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

// TestSDKZonesAndRecords: zones and DNS records round trip through
// cloudflare-go v6.10.0, and proxied records show up in the answer set.
func TestSDKZonesAndRecords(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	ctx := t.Context()
	a := keyClient(e.hs.URL, emailA, keyA)
	z, err := a.Zones.New(ctx, zones.ZoneNewParams{Account: cloudflare.F(zones.ZoneNewParamsAccount{ID: cloudflare.F(acctA)}), Name: cloudflare.F("example.org"), Type: cloudflare.F(zones.TypeFull)})
	if err != nil || z.Name != "example.org" || z.Account.ID != acctA || z.Status != zones.ZoneStatusActive {
		t.Fatalf("Zones.New: %v %+v", err, z)
	}
	got, err := a.Zones.Get(ctx, zones.ZoneGetParams{ZoneID: cloudflare.F(z.ID)})
	if err != nil || got.ID != z.ID {
		t.Fatalf("Zones.Get: %v %+v", err, got)
	}
	var names []string
	iter := a.Zones.ListAutoPaging(ctx, zones.ZoneListParams{})
	for iter.Next() {
		names = append(names, iter.Current().Name)
	}
	if err := iter.Err(); err != nil || len(names) != 2 || names[0] != "example.net" || names[1] != "example.org" {
		t.Fatalf("Zones.List: %v %v", err, names)
	}
	_, err = a.Zones.New(ctx, zones.ZoneNewParams{Account: cloudflare.F(zones.ZoneNewParamsAccount{ID: cloudflare.F(acctA)}), Name: cloudflare.F("example.org")})
	apiErr(t, "duplicate zone", err, 409, CodeZoneDuplicate)

	zone := cloudflare.F(zoneA)
	r, err := a.DNS.Records.New(ctx, dns.RecordNewParams{ZoneID: zone, Body: dns.ARecordParam{
		Name: cloudflare.F("www.example.net"), TTL: cloudflare.F(dns.TTL(1)), Type: cloudflare.F(dns.ARecordTypeA),
		Content: cloudflare.F("192.0.2.10"), Proxied: cloudflare.F(true), Comment: cloudflare.F("origin"),
	}})
	if err != nil || r.Name != "www.example.net" || r.Content != "192.0.2.10" || !r.Proxied || !r.Proxiable || r.Type != dns.RecordResponseTypeA || r.Comment != "origin" {
		t.Fatalf("Records.New: %v %+v", err, r)
	}
	txt, err := a.DNS.Records.New(ctx, dns.RecordNewParams{ZoneID: zone, Body: dns.TXTRecordParam{
		Name: cloudflare.F("_hello"), TTL: cloudflare.F(dns.TTL(3600)), Type: cloudflare.F(dns.TXTRecordTypeTXT), Content: cloudflare.F("hi"),
	}})
	if err != nil || txt.Name != "_hello.example.net" || txt.TTL != 3600 {
		t.Fatalf("Records.New(TXT): %v %+v", err, txt)
	}
	ed, err := a.DNS.Records.Edit(ctx, r.ID, dns.RecordEditParams{ZoneID: zone, Body: dns.ARecordParam{
		Name: cloudflare.F("www.example.net"), TTL: cloudflare.F(dns.TTL(1)), Type: cloudflare.F(dns.ARecordTypeA), Content: cloudflare.F("192.0.2.11"),
	}})
	if err != nil || ed.Content != "192.0.2.11" || !ed.Proxied {
		t.Fatalf("Records.Edit: %v %+v", err, ed)
	}
	up, err := a.DNS.Records.Update(ctx, r.ID, dns.RecordUpdateParams{ZoneID: zone, Body: dns.CNAMERecordParam{
		Name: cloudflare.F("www.example.net"), TTL: cloudflare.F(dns.TTL(1)), Type: cloudflare.F(dns.CNAMERecordTypeCNAME), Content: cloudflare.F("origin.example.org"), Proxied: cloudflare.F(true),
	}})
	if err != nil || up.Type != dns.RecordResponseTypeCNAME || up.Content != "origin.example.org" || up.ID != r.ID {
		t.Fatalf("Records.Update: %v %+v", err, up)
	}
	g, err := a.DNS.Records.Get(ctx, r.ID, dns.RecordGetParams{ZoneID: zone})
	if err != nil || g.Type != dns.RecordResponseTypeCNAME {
		t.Fatalf("Records.Get: %v %+v", err, g)
	}
	list, err := a.DNS.Records.List(ctx, dns.RecordListParams{ZoneID: zone, Type: cloudflare.F(dns.RecordListParamsTypeTXT)})
	if err != nil || len(list.Result) != 1 || list.Result[0].ID != txt.ID {
		t.Fatalf("Records.List(type=TXT): %v %+v", err, list)
	}

	var v dnsView
	e.must("GET", "/admin/v1/dns", nil, noAuth, &v)
	ans := map[string]dnsAnswerView{}
	for _, x := range v.Answers {
		ans[x.Name] = x
	}
	if w := ans["www.example.net"]; w.Source != config.AnswerProxied || len(w.A) != 1 || w.A[0] != "198.51.100.1" || len(w.AAAA) != 1 || w.AAAA[0] != "2001:db8:ff::1" || w.TTL != 300 {
		t.Fatalf("proxied answer %+v", w)
	}
	if h := ans["_hello.example.net"]; h.Source != config.AnswerRecord || len(h.TXT) != 1 || h.TTL != 3600 {
		t.Fatalf("txt answer %+v", h)
	}

	del, err := a.DNS.Records.Delete(ctx, r.ID, dns.RecordDeleteParams{ZoneID: zone})
	if err != nil || del.ID != r.ID {
		t.Fatalf("Records.Delete: %v %+v", err, del)
	}
	_, err = a.DNS.Records.Get(ctx, r.ID, dns.RecordGetParams{ZoneID: zone})
	apiErr(t, "Records.Get after delete", err, 404, CodeNotFound)
}
