package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/clock"
	"github.com/edgesim/edgesim/store"
)

var embeddedID = regexp.MustCompile(`\b[0-9a-f]{32}\b`)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// normalizer replaces random values (32-hex IDs, UUID tokens) with stable
// placeholders; fixed IDs (accounts, services) and times (from the fake
// clock) are kept.
type normalizer struct {
	ids   map[string]string
	fixed map[string]bool
}

func newNormalizer() *normalizer {
	n := &normalizer{ids: map[string]string{}, fixed: map[string]bool{acctA: true, acctB: true, zoneA: true, zoneB: true}}
	for _, s := range config.Services() {
		n.fixed[s.ID] = true
	}
	return n
}

func (n *normalizer) value(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			x[k] = n.value(x[k])
		}
	case []any:
		for i, e := range x {
			x[i] = n.value(e)
		}
	case string:
		switch {
		case n.fixed[x]:
		case hex32Re.MatchString(x):
			if _, ok := n.ids[x]; !ok {
				n.ids[x] = fmt.Sprintf("<id-%d>", len(n.ids)+1)
			}
			return n.ids[x]
		case uuidRe.MatchString(x):
			return "<uuid>"
		default:
			// IDs inside messages.
			return embeddedID.ReplaceAllStringFunc(x, func(id string) string {
				if n.fixed[id] {
					return id
				}
				return n.value(id).(string)
			})
		}
	}
	return v
}

func (n *normalizer) normalize(t *testing.T, raw []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("golden: decoding %s: %v", raw, err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(n.value(v)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func checkGolden(t *testing.T, n *normalizer, name string, r *resp) {
	t.Helper()
	got := n.normalize(t, r.Raw)
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./api -run TestGolden -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// TestGolden records the response bodies of the onboarding workflow.
func TestGolden(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	n := newNormalizer()
	g := func(name, method, path string, body any, a auth) *resp {
		t.Helper()
		r := e.do(method, path, body, a)
		checkGolden(t, n, name, r)
		return r
	}
	var p prefixView
	g("prefix_create", "POST", pfxPath(acctA), map[string]any{"cidr": v4, "asn": 13335, "delegate_loa_creation": true, "description": "golden"}, authA).into(t, &p)
	g("prefix_validate", "POST", pfxPath(acctA, p.ID, "validate"), nil, authA)
	e.clk.FastForward(time.Minute)
	e.waitFor(func() bool { return e.srv.State().Prefixes[p.ID].Approved }, "approval")
	g("prefix_get_approved", "GET", pfxPath(acctA, p.ID), nil, authA)
	g("delegation_create", "POST", pfxPath(acctA, p.ID, "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctB}, authA)
	g("services_list", "GET", "/client/v4/accounts/"+acctA+"/addressing/services", nil, authA)
	g("binding_create_default", "POST", pfxPath(acctA, p.ID, "bindings"), map[string]any{"cidr": v4, "service_id": svcCDN}, authA)
	g("binding_create_spectrum", "POST", pfxPath(acctA, p.ID, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcSpectrum}, authA)
	e.clk.FastForward(5 * time.Hour)
	g("bindings_list_active", "GET", pfxPath(acctA, p.ID, "bindings"), nil, authA)
	var bgps []bgpPrefixView
	g("bgp_prefixes_list", "GET", pfxPath(acctA, p.ID, "bgp", "prefixes"), nil, authA).into(t, &bgps)
	g("bgp_prefix_advertise", "PATCH", pfxPath(acctA, p.ID, "bgp", "prefixes", bgps[0].ID), map[string]any{"on_demand": map[string]any{"advertised": true}}, authA)
	g("bgp_status", "GET", pfxPath(acctA, p.ID, "bgp", "status"), nil, authA)
	g("prefix_get_advertised", "GET", pfxPath(acctA, p.ID), nil, authA)
	g("error_conflict", "POST", pfxPath(acctA), map[string]any{"cidr": v4, "asn": 13335}, authA)
	g("error_not_found", "GET", pfxPath(acctA, "00000000000000000000000000000000"), nil, authA)
	g("error_no_route", "GET", "/client/v4/nope", nil, authA)
	g("error_missing_auth", "GET", pfxPath(acctA), nil, noAuth)
}

// TestRestart builds a second Server on the same store and expects the same
// answers, and a validation scheduled before the restart to complete after it.
func TestRestart(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	clk := clock.New(func() time.Time { return base })
	e1 := newEnv(t, envOpt{store: st, clk: clk})
	id, bgp := e1.withDefault(v4)
	e1.must("POST", pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcSpectrum}, authA, nil)
	e1.must("POST", pfxPath(acctA, id, "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctB}, authA, nil)
	e1.must("PATCH", pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"asn_prepend_count": 2, "on_demand": map[string]any{"advertised": true}}, authA, nil)
	pending := e1.createPrefix("198.51.100.0/24")
	e1.must("POST", pfxPath(acctA, pending, "validate"), nil, authA, nil)
	e1.must("POST", "/admin/v1/prefixes/"+id+"/lock", nil, noAuth, nil)

	paths := []string{
		pfxPath(acctA), pfxPath(acctA, id), pfxPath(acctA, pending),
		pfxPath(acctA, id, "delegations"), pfxPath(acctA, id, "bindings"),
		pfxPath(acctA, id, "bgp", "prefixes"), pfxPath(acctA, id, "bgp", "prefixes", bgp), pfxPath(acctA, id, "bgp", "status"),
	}
	before := map[string]string{}
	for _, p := range paths {
		before[p] = string(e1.must("GET", p, nil, authA, nil).Raw)
	}
	state1 := mustJSON(e1.srv.State())
	e1.srv.Close()

	e2 := newEnv(t, envOpt{store: st, clk: clk})
	if got := mustJSON(e2.srv.State()); got != state1 {
		t.Fatalf("state after restart:\n%s\nwant\n%s", got, state1)
	}
	for _, p := range paths {
		if got := string(e2.must("GET", p, nil, authA, nil).Raw); got != before[p] {
			t.Errorf("GET %s after restart:\n%s\nwant\n%s", p, got, before[p])
		}
	}
	e2.clk.FastForward(time.Hour)
	e2.waitFor(func() bool { return e2.srv.State().Prefixes[pending].Approved }, "validation resumed after restart")
}

// TestRestartBolt does the restart on the bbolt file store, closing and
// reopening the file in between.
func TestRestartBolt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "edgesim.db")
	clk := clock.New(func() time.Time { return base })
	st1, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e1 := newEnv(t, envOpt{store: st1, clk: clk})
	id, bgp := e1.withDefault(v4)
	e1.must("PATCH", pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"on_demand": map[string]any{"advertised": true}}, authA, nil)
	want := string(e1.must("GET", pfxPath(acctA, id), nil, authA, nil).Raw)
	state1 := mustJSON(e1.srv.State())
	e1.srv.Close()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	e2 := newEnv(t, envOpt{store: st2, clk: clk})
	if got := mustJSON(e2.srv.State()); got != state1 {
		t.Fatalf("state after reopening:\n%s\nwant\n%s", got, state1)
	}
	if got := string(e2.must("GET", pfxPath(acctA, id), nil, authA, nil).Raw); got != want {
		t.Fatalf("GET after reopening:\n%s\nwant\n%s", got, want)
	}
}
