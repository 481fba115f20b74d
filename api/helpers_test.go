package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/clock"
	"github.com/edgesim/edgesim/store"
)

// Fixed identities of the demo config (config/demo.yaml) plus test tokens.
const (
	acctA     = "258def64c72dae45f3e4c8516e2111f2"
	acctB     = "b1946ac92492d2347c6235b4d2611184"
	acctGhost = "0123456789abcdef0123456789abcdef" // in no config
	emailA    = "owner@example.net"
	keyA      = "144c9defac04969c7bfad8efaa8ea194"
	emailB    = "tenant@example.com"
	keyB      = "3c59dc048e8850243be8079a5c74d079"
	tokenA    = "owner-token-Sn3lZJTBX6kkg7OdcBUAxOO9"  // Read, Write, BGP On Demand Write
	tokenB    = "tenant-token-63GEIyGQqnFTOFYYb1946ac9" // Read
	tokenBGP  = "test-token-bgp-only"                   // BGP On Demand Write on A
	tokenMT   = "test-token-magic-transit"              // Magic Transit Write on A
	tokenRead = "test-token-read-a"                     // Read on A
)

var (
	svcMT       = config.Services()[0].ID
	svcCDN      = config.Services()[1].ID
	svcSpectrum = config.Services()[2].ID
)

// base is the fake clock's wall time; only FastForward moves it.
var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func dur(d time.Duration) *config.Duration { v := config.Duration(d); return &v }

// testDaemon is the demo config plus test tokens; mod may change it.
func testDaemon(mod func(*config.Daemon)) *config.Daemon {
	d := config.Demo()
	d.Credentials = append(d.Credentials,
		config.Credential{Token: tokenBGP, Permissions: []string{config.PermBGPOnDemandWrite}, Accounts: []string{acctA}},
		config.Credential{Token: tokenMT, Permissions: []string{config.PermMagicTransitWrite}, Accounts: []string{acctA}},
		config.Credential{Token: tokenRead, Permissions: []string{config.PermPrefixesRead}, Accounts: []string{acctA}},
	)
	if mod != nil {
		mod(d)
	}
	return d
}

type env struct {
	t   testing.TB
	srv *Server
	hs  *httptest.Server
	clk *clock.Clock
	st  store.Store
}

type envOpt struct {
	daemon    func(*config.Daemon)
	validator Validator
	store     store.Store
	clk       *clock.Clock
}

func newEnv(t testing.TB, o envOpt) *env {
	t.Helper()
	st := o.store
	if st == nil {
		st = store.NewMemory()
	}
	clk := o.clk
	if clk == nil {
		clk = clock.New(func() time.Time { return base })
	}
	srv, err := New(t.Context(), Options{Daemon: testDaemon(o.daemon), Store: st, Validator: o.validator, Clock: clk})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return &env{t: t, srv: srv, hs: hs, clk: clk, st: st}
}

// auth sets credentials on a request.
type auth func(*http.Request)

func key(email, k string) auth {
	return func(r *http.Request) { r.Header.Set("X-Auth-Email", email); r.Header.Set("X-Auth-Key", k) }
}
func bearer(tok string) auth {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}
func both(as ...auth) auth {
	return func(r *http.Request) {
		for _, a := range as {
			a(r)
		}
	}
}

var (
	authA  = key(emailA, keyA)
	authB  = key(emailB, keyB)
	noAuth = auth(func(*http.Request) {})
)

type resp struct {
	Status int
	Header http.Header
	Raw    []byte
	Env    struct {
		Success    bool            `json:"success"`
		Errors     []message       `json:"errors"`
		Messages   []message       `json:"messages"`
		Result     json.RawMessage `json:"result"`
		ResultInfo *resultInfo     `json:"result_info"`
	}
}

func (r *resp) code() Code {
	if len(r.Env.Errors) == 0 {
		return 0
	}
	return r.Env.Errors[0].Code
}

// into decodes the result into v.
func (r *resp) into(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Env.Result, v); err != nil {
		t.Fatalf("decoding result %s: %v", r.Env.Result, err)
	}
}

// do sends a request; body may be nil, a string (sent raw) or a value (JSON).
func (e *env) do(method, path string, body any, a auth) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.hs.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	a(req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := &resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err := json.Unmarshal(raw, &out.Env); err != nil {
		e.t.Fatalf("%s %s: body is not an envelope: %v\n%s", method, path, err, raw)
	}
	return out
}

// must sends a request that must succeed with 200 and decodes the result into v (if not nil).
func (e *env) must(method, path string, body any, a auth, v any) *resp {
	e.t.Helper()
	r := e.do(method, path, body, a)
	if r.Status != http.StatusOK || !r.Env.Success {
		e.t.Fatalf("%s %s: status %d, want 200: %s", method, path, r.Status, r.Raw)
	}
	if v != nil {
		r.into(e.t, v)
	}
	return r
}

func pfxPath(acct string, rest ...string) string {
	p := "/client/v4/accounts/" + acct + "/addressing/prefixes"
	for _, s := range rest {
		p += "/" + s
	}
	return p
}

// createPrefix adds a prefix for account A and returns its id.
func (e *env) createPrefix(cidr string) string {
	e.t.Helper()
	var p prefixView
	e.must("POST", pfxPath(acctA), map[string]any{"cidr": cidr, "asn": 13335}, authA, &p)
	return p.ID
}

// approve validates prefix id and waits until the worker approved it.
func (e *env) approve(id string) {
	e.t.Helper()
	e.must("POST", pfxPath(acctA, id, "validate"), nil, authA, nil)
	e.clk.FastForward(time.Hour)
	e.waitFor(func() bool { return e.srv.State().Prefixes[id].Approved }, "prefix %s approved", id)
}

// approvedPrefix creates and approves a prefix.
func (e *env) approvedPrefix(cidr string) string {
	e.t.Helper()
	id := e.createPrefix(cidr)
	e.approve(id)
	return id
}

// withDefault adds an approved prefix with a CDN default binding and returns
// the prefix id and the id of its auto-created BGP prefix.
func (e *env) withDefault(cidr string) (string, string) {
	e.t.Helper()
	id := e.approvedPrefix(cidr)
	e.must("POST", pfxPath(acctA, id, "bindings"), map[string]any{"cidr": cidr, "service_id": svcCDN}, authA, nil)
	var bgps []bgpPrefixView
	e.must("GET", pfxPath(acctA, id, "bgp", "prefixes"), nil, authA, &bgps)
	if len(bgps) != 1 {
		e.t.Fatalf("got %d bgp prefixes, want 1", len(bgps))
	}
	return id, bgps[0].ID
}

func (e *env) waitFor(cond func() bool, format string, args ...any) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", fmt.Sprintf(format, args...))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func netipAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func fmtAddrs(a, aaaa []string) string { return fmt.Sprint(a, " ", aaaa) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
