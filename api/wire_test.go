package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/store"
)

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	id, bgp := e.withDefault(v4)
	e.must("POST", pfxPath(acctB), map[string]any{"cidr": "198.51.100.0/24", "asn": 64496}, authB, nil)
	advertise := map[string]any{"on_demand": map[string]any{"advertised": false}}
	tests := []struct {
		name   string
		req    req
		status int
		code   Code
	}{
		{"key", req{"GET", pfxPath(acctA), nil, authA}, 200, 0},
		{"token", req{"GET", pfxPath(acctA), nil, bearer(tokenA)}, 200, 0},
		{"bearer lowercase scheme", req{"GET", pfxPath(acctA), nil, func(r *http.Request) { r.Header.Set("Authorization", "bearer "+tokenA) }}, 200, 0},
		{"bearer wins over bad key", req{"GET", pfxPath(acctA), nil, both(key(emailA, "wrong"), bearer(tokenA))}, 200, 0},
		{"bad bearer wins over good key", req{"GET", pfxPath(acctA), nil, both(authA, bearer("wrong"))}, 403, CodeAuth},
		{"wrong account key", req{"GET", pfxPath(acctB), nil, authA}, 404, CodeNotFound},
		{"wrong account token", req{"GET", pfxPath(acctA), nil, bearer(tokenB)}, 404, CodeNotFound},
		{"unknown account", req{"GET", pfxPath(acctGhost), nil, authA}, 404, CodeNotFound},
		{"other account's prefix via own account", req{"GET", pfxPath(acctB, id), nil, authB}, 404, CodeNotFound},
		{"missing headers", req{"GET", pfxPath(acctA), nil, noAuth}, 400, CodeMissingAuth},
		{"email without key", req{"GET", pfxPath(acctA), nil, func(r *http.Request) { r.Header.Set("X-Auth-Email", emailA) }}, 400, CodeMissingAuth},
		{"basic scheme", req{"GET", pfxPath(acctA), nil, func(r *http.Request) { r.Header.Set("Authorization", "Basic Zm9vOmJhcg==") }}, 400, CodeBadHeaders},
		{"wrong key", req{"GET", pfxPath(acctA), nil, key(emailA, "144c9defac04969c7bfad8efaa8ea195")}, 403, CodeAuth},
		{"wrong email", req{"GET", pfxPath(acctA), nil, key(emailB, keyA)}, 403, CodeAuth},
		{"wrong token", req{"GET", pfxPath(acctA), nil, bearer("nope")}, 403, CodeAuth},
		{"read token reads", req{"GET", pfxPath(acctA), nil, bearer(tokenRead)}, 200, 0},
		{"read token cannot write", req{"POST", pfxPath(acctA), map[string]any{"cidr": "192.0.2.0/24", "asn": 1}, bearer(tokenRead)}, 403, CodeForbidden},
		{"read token cannot validate", req{"POST", pfxPath(acctA, id, "validate"), nil, bearer(tokenRead)}, 403, CodeForbidden},
		{"tenant read token cannot write", req{"POST", pfxPath(acctB), map[string]any{"cidr": "192.0.2.0/24", "asn": 1}, bearer(tokenB)}, 403, CodeForbidden},
		{"bgp token cannot read", req{"GET", pfxPath(acctA), nil, bearer(tokenBGP)}, 403, CodeForbidden},
		{"bgp token edits bgp prefix", req{"PATCH", pfxPath(acctA, id, "bgp", "prefixes", bgp), advertise, bearer(tokenBGP)}, 200, 0},
		{"bgp token edits bgp status", req{"PATCH", pfxPath(acctA, id, "bgp", "status"), map[string]any{"advertised": false}, bearer(tokenBGP)}, 200, 0},
		{"bgp token cannot bind", req{"POST", pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.0/29", "service_id": svcCDN}, bearer(tokenBGP)}, 403, CodeForbidden},
		{"magic transit token validates", req{"POST", pfxPath(acctA, id, "validate"), nil, bearer(tokenMT)}, 200, 0},
		{"magic transit token cannot create", req{"POST", pfxPath(acctA), map[string]any{"cidr": "192.0.2.0/24", "asn": 1}, bearer(tokenMT)}, 403, CodeForbidden},
		{"read token cannot edit bgp", req{"PATCH", pfxPath(acctA, id, "bgp", "prefixes", bgp), advertise, bearer(tokenRead)}, 403, CodeForbidden},
		{"write token validates", req{"POST", pfxPath(acctA, id, "validate"), nil, bearer(tokenA)}, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.req.method, tt.req.path, tt.req.body, tt.req.auth)
			if r.Status != tt.status || r.code() != tt.code {
				t.Fatalf("%s %s = %d code %d, want %d code %d\n%s", tt.req.method, tt.req.path, r.Status, r.code(), tt.status, tt.code, r.Raw)
			}
			if r.Status >= 400 && r.Header.Get("X-Should-Retry") != "false" {
				t.Errorf("x-should-retry = %q, want false", r.Header.Get("X-Should-Retry"))
			}
		})
	}
}

var (
	hex32Re = regexp.MustCompile(`^[0-9a-f]{32}$`)
	uuidRe  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func TestWire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	t.Run("unknown route", func(t *testing.T) {
		for _, path := range []string{"/client/v4/nope", "/", "/client/v4/accounts/" + acctA + "/addressing/prefixes/x/y/z", "/client/v4/admin/v1/clock"} {
			r := e.do("GET", path, nil, authA)
			if r.Status != 404 || r.code() != CodeNoRoute {
				t.Errorf("GET %s = %d code %d, want 404 code %d", path, r.Status, r.code(), CodeNoRoute)
			}
			checkErrorHeaders(t, r)
		}
	})
	t.Run("method not allowed", func(t *testing.T) {
		r := e.do("PUT", pfxPath(acctA), nil, authA)
		if r.Status != 405 || r.code() != CodeMethodNotAllowed {
			t.Fatalf("PUT = %d code %d, want 405 code %d", r.Status, r.code(), CodeMethodNotAllowed)
		}
		if got := r.Header.Get("Allow"); got != "POST, GET" {
			t.Errorf("Allow = %q", got)
		}
		checkErrorHeaders(t, r)
	})
	t.Run("routes at root", func(t *testing.T) {
		r := e.do("GET", "/accounts/"+acctA+"/addressing/services", nil, authA)
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET at root = %d %q", r.Status, r.Header.Get("Content-Type"))
		}
	})
	t.Run("ids and times", func(t *testing.T) {
		var p prefixView
		r := e.must("POST", pfxPath(acctA), map[string]any{"cidr": "192.0.2.0/24", "asn": 13335, "delegate_loa_creation": true}, authA, &p)
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		if !hex32Re.MatchString(p.ID) || p.LOADocumentID == nil || !hex32Re.MatchString(*p.LOADocumentID) {
			t.Errorf("id %q / loa_document_id %v not 32 hex", p.ID, p.LOADocumentID)
		}
		if !uuidRe.MatchString(p.OwnershipValidationToken) {
			t.Errorf("ownership token %q is not a UUID v4", p.OwnershipValidationToken)
		}
		var raw map[string]any
		r.into(t, &raw)
		for _, k := range []string{"created_at", "modified_at"} {
			s, _ := raw[k].(string)
			if _, err := time.Parse(time.RFC3339, s); err != nil || !strings.HasSuffix(s, "Z") {
				t.Errorf("%s = %q, not RFC 3339 UTC", k, s)
			}
		}
		for _, k := range []string{"advertised", "advertised_modified_at"} {
			if v, ok := raw[k]; !ok || v != nil {
				t.Errorf("%s = %v, want null", k, v)
			}
		}
		if raw["approved"] != "P" || raw["irr_validation_state"] != "pending" || raw["on_demand_enabled"] != false {
			t.Errorf("fresh prefix: %s", r.Env.Result)
		}
		var p2 prefixView
		e.must("POST", pfxPath(acctA), map[string]any{"cidr": "198.51.100.0/24", "asn": 13335}, authA, &p2)
		if p2.LOADocumentID != nil {
			t.Errorf("loa_document_id = %q without delegate_loa_creation", *p2.LOADocumentID)
		}
	})
	t.Run("list envelope", func(t *testing.T) {
		r := e.must("GET", "/client/v4/accounts/"+acctB+"/addressing/prefixes", nil, authB, nil)
		if string(r.Env.Result) != "[]" || r.Env.ResultInfo == nil || r.Env.ResultInfo.TotalPages != 1 {
			t.Errorf("empty list: %s", r.Raw)
		}
	})
	t.Run("services", func(t *testing.T) {
		var svcs []config.Service
		e.must("GET", "/client/v4/accounts/"+acctB+"/addressing/services", nil, bearer(tokenB), &svcs)
		if mustJSON(svcs) != mustJSON(config.Services()) {
			t.Errorf("services = %v", svcs)
		}
	})
}

func checkErrorHeaders(t *testing.T, r *resp) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if r.Header.Get("X-Should-Retry") != "false" {
		t.Errorf("x-should-retry = %q", r.Header.Get("X-Should-Retry"))
	}
	if r.Env.Success || len(r.Env.Errors) != 1 || r.Env.Messages == nil {
		t.Errorf("envelope: %s", r.Raw)
	}
}

func TestPanicIsJSON500(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	rt := &router{}
	rt.add(&rt.admin, "GET", "boom", accessNone, func(*call) (any, error) { panic("secret detail") })
	w := httptest.NewRecorder()
	e.srv.serveHTTP(rt, w, httptest.NewRequest("GET", "/admin/v1/boom", nil))
	if w.Code != 500 || w.Header().Get("Content-Type") != "application/json" || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("panic answer: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var env envelope
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Errors[0].Code != CodeInternal {
		t.Fatalf("panic body %s: %v", w.Body, err)
	}
}

// failingStore fails Apply and ApplyIf while fail is set.
type failingStore struct {
	store.Store
	fail atomic.Bool
}

func (f *failingStore) Apply(ctx context.Context, ops ...store.Op) (store.Rev, error) {
	if f.fail.Load() {
		return 0, errors.New("disk on fire: /var/secret/path")
	}
	return f.Store.Apply(ctx, ops...)
}

func (f *failingStore) ApplyIf(ctx context.Context, rev store.Rev, ops ...store.Op) (store.Rev, error) {
	if f.fail.Load() {
		return 0, errors.New("disk on fire: /var/secret/path")
	}
	return f.Store.ApplyIf(ctx, rev, ops...)
}

func TestStoreFailureLeavesMemoryUnchanged(t *testing.T) {
	t.Parallel()
	fs := &failingStore{Store: store.NewMemory()}
	e := newEnv(t, envOpt{store: fs})
	id, _ := e.withDefault(v4)
	before := e.srv.State()
	fs.fail.Store(true)
	for _, rq := range []req{
		post(pfxPath(acctA), map[string]any{"cidr": "198.51.100.0/24", "asn": 1}),
		post(pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcSpectrum}),
		post(pfxPath(acctA, id, "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctB}),
		patch(pfxPath(acctA, id, "bgp", "status"), map[string]any{"advertised": true}),
		patch(pfxPath(acctA, id), map[string]any{"description": "x"}),
	} {
		r := e.do(rq.method, rq.path, rq.body, rq.auth)
		if r.Status != 500 || r.code() != CodeInternal || strings.Contains(string(r.Raw), "secret") {
			t.Errorf("%s %s = %d code %d: %s", rq.method, rq.path, r.Status, r.code(), r.Raw)
		}
		if r.Header.Get("X-Should-Retry") != "" {
			t.Errorf("x-should-retry set on 500")
		}
	}
	if !statesEqual(before, e.srv.State()) {
		t.Fatal("failed writes changed the in-memory state")
	}
	fs.fail.Store(false)
	e.must("PATCH", pfxPath(acctA, id), map[string]any{"description": "x"}, authA, nil)
}

func TestNewRejectsCorruptStore(t *testing.T) {
	t.Parallel()
	good := mustJSON(&config.Prefix{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", AccountID: acctA, CIDR: mustPrefix(v4), ASN: 1})
	tests := []struct {
		name string
		ops  []store.Op
	}{
		{"not json", []store.Op{store.Put(KindPrefixes, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", []byte("{not json"))}},
		{"bad cidr", []store.Op{store.Put(KindPrefixes, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", []byte(`{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","cidr":"300.0.0.0/8"}`))}},
		{"key mismatch", []store.Op{store.Put(KindPrefixes, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", []byte(good))}},
		{"orphan binding", []store.Op{store.Put(KindBindings, "cccccccccccccccccccccccccccccccc", []byte(`{"id":"cccccccccccccccccccccccccccccccc","prefix_id":"dddddddddddddddddddddddddddddddd","cidr":"203.0.113.0/24"}`))}},
		{"approved without checks", []store.Op{store.Put(KindPrefixes, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", []byte(strings.Replace(good, `"approved":false`, `"approved":true`, 1)))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := store.NewMemory()
			if _, err := st.Apply(t.Context(), tt.ops...); err != nil {
				t.Fatal(err)
			}
			if s, err := New(t.Context(), Options{Daemon: testDaemon(nil), Store: st}); err == nil {
				s.Close()
				t.Fatal("New accepted a corrupt store")
			} else {
				t.Logf("New: %v", err)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		st := store.NewMemory()
		if _, err := st.Apply(t.Context(), store.Put(KindPrefixes, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", []byte(good))); err != nil {
			t.Fatal(err)
		}
		s, err := New(t.Context(), Options{Daemon: testDaemon(nil), Store: st})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
}

func TestAdminClockAndState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	var cv clockView
	e.must("POST", "/admin/v1/clock/fast-forward", map[string]any{"duration": "5h"}, noAuth, &cv)
	if !cv.Now.Equal(base.Add(5*time.Hour)) || cv.Offset != "5h0m0s" {
		t.Fatalf("fast-forward = %+v", cv)
	}
	e.must("GET", "/admin/v1/clock", nil, noAuth, &cv)
	if cv.OffsetSeconds != 5*3600 {
		t.Fatalf("clock = %+v", cv)
	}
	id, _ := e.withDefault(v4)
	var sv struct {
		State *config.State `json:"state"`
	}
	e.must("GET", "/admin/v1/state", nil, noAuth, &sv)
	if len(sv.State.Prefixes) != 1 || len(sv.State.Bindings) != 1 || len(sv.State.BGPPrefixes) != 1 || sv.State.Prefixes[id] == nil {
		t.Fatalf("state = %+v", sv.State)
	}
}
