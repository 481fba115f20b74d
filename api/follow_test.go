package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/edgesim/edgesim/store"
)

// deafStore never notifies changes, so a Server on it keeps a stale view
// until a commit meets the moved store (store.ErrConflict).
type deafStore struct{ store.Store }

func (deafStore) Watch(context.Context) <-chan store.Rev { return make(chan store.Rev) }

// storedPrefix creates a prefix through a Server on a store of its own and
// returns its id and stored JSON, for writing into another store directly.
func storedPrefix(t *testing.T, cidr string) (string, []byte) {
	t.Helper()
	src := newEnv(t, envOpt{})
	id := src.createPrefix(cidr)
	b, err := src.st.Get(t.Context(), KindPrefixes, id)
	if err != nil {
		t.Fatal(err)
	}
	return id, b
}

// TestFollowsExternalApply: an Apply that bypasses the API (another node,
// a tool) becomes visible through the API, and new writes are checked
// against it.
func TestFollowsExternalApply(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	e := newEnv(t, envOpt{store: st})
	id, b := storedPrefix(t, "203.0.113.0/24")
	if r := e.do("GET", pfxPath(acctA, id), nil, authA); r.Status != http.StatusNotFound {
		t.Fatalf("GET before the external write: %d", r.Status)
	}
	if _, err := st.Apply(t.Context(), store.Put(KindPrefixes, id, b)); err != nil {
		t.Fatal(err)
	}
	e.waitFor(func() bool { return e.do("GET", pfxPath(acctA, id), nil, authA).Status == http.StatusOK }, "the external prefix through the API")
	r := e.do("POST", pfxPath(acctA), map[string]any{"cidr": "203.0.113.0/24", "asn": 13335}, authA)
	if r.Status != http.StatusConflict || r.code() != CodePrefixOverlapOwn {
		t.Errorf("POST of the external prefix's cidr: %d code %d, want 409 %d", r.Status, r.code(), CodePrefixOverlapOwn)
	}
	if s := e.srv.StoreStats(); s.Reloads < 1 || s.ReloadFailures != 0 || s.Conflicts != 0 {
		t.Errorf("StoreStats = %+v, want reloads and nothing else", s)
	}

	// An external delete goes too.
	if _, err := st.Apply(t.Context(), store.Del(KindPrefixes, id)); err != nil {
		t.Fatal(err)
	}
	e.waitFor(func() bool { return e.do("GET", pfxPath(acctA, id), nil, authA).Status == http.StatusNotFound }, "the external delete through the API")
}

// TestTwoServersOneStore: two Servers on one store, like two nodes on one
// etcd state. Each sees the other's writes and rejects writes that conflict
// with them; a Server's own writes never reload its view.
func TestTwoServersOneStore(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	e1 := newEnv(t, envOpt{store: st})
	e2 := newEnv(t, envOpt{store: st})

	id := e1.createPrefix("203.0.113.0/24")
	e2.waitFor(func() bool { return e2.do("GET", pfxPath(acctA, id), nil, authA).Status == http.StatusOK }, "server 1's prefix on server 2")
	r := e2.do("POST", pfxPath(acctA), map[string]any{"cidr": "203.0.113.0/24", "asn": 13335}, authA)
	if r.Status != http.StatusConflict || r.code() != CodePrefixOverlapOwn {
		t.Errorf("server 2 POST duplicating server 1's prefix: %d code %d, want 409 %d", r.Status, r.code(), CodePrefixOverlapOwn)
	}

	before1, before2 := e1.srv.StoreStats(), e2.srv.StoreStats()
	const n = 20
	for i := range n {
		e1.createPrefix(fmt.Sprintf("2001:db8:%x::/48", i+1))
	}
	after1 := e1.srv.StoreStats()
	if after1.Reloads != before1.Reloads || after1.Conflicts != 0 {
		t.Errorf("server 1's own %d writes: StoreStats %+v -> %+v, want no reloads and no conflicts", n, before1, after1)
	}
	e2.waitFor(func() bool { return len(e2.srv.State().Prefixes) == n+1 }, "server 1's %d prefixes on server 2", n+1)
	if after2 := e2.srv.StoreStats(); after2.Reloads <= before2.Reloads || after2.Reloads > before2.Reloads+n {
		t.Errorf("server 2 reloads %d -> %d for %d writes of server 1, want between 1 and %d", before2.Reloads, after2.Reloads, n, n)
	}
}

// TestConflictRechecksAgainstReloadedView: a Server whose view is stale
// (its watcher is deaf here; on a shared etcd state, the other node's write
// is milliseconds old) does not write over what it has not seen: the
// conditional write fails, the view is reloaded and the request runs again,
// so a conflicting write is rejected by the rules and a compatible one
// succeeds with its body intact.
func TestConflictRechecksAgainstReloadedView(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	e := newEnv(t, envOpt{store: deafStore{st}})
	id, b := storedPrefix(t, "203.0.113.0/24")
	if _, err := st.Apply(t.Context(), store.Put(KindPrefixes, id, b)); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.srv.State().Prefixes[id]; ok {
		t.Fatal("the deaf server saw the external write without a conflict")
	}
	r := e.do("POST", pfxPath(acctA), map[string]any{"cidr": "203.0.113.0/24", "asn": 13335}, authA)
	if r.Status != http.StatusConflict || r.code() != CodePrefixOverlapOwn {
		t.Errorf("POST duplicating the unseen prefix: %d code %d, want 409 %d: %s", r.Status, r.code(), CodePrefixOverlapOwn, r.Raw)
	}
	if s := e.srv.StoreStats(); s.Conflicts != 1 || s.Reloads != 1 {
		t.Errorf("StoreStats = %+v, want 1 conflict and 1 reload", s)
	}
	if _, ok := e.srv.State().Prefixes[id]; !ok {
		t.Error("the view was not reloaded after the conflict")
	}

	// A compatible write after another unseen one: retried, and succeeds.
	id2, b2 := storedPrefix(t, "192.0.2.0/24")
	if _, err := st.Apply(t.Context(), store.Put(KindPrefixes, id2, b2)); err != nil {
		t.Fatal(err)
	}
	var p prefixView
	e.must("POST", pfxPath(acctA), map[string]any{"cidr": "198.51.100.0/24", "asn": 64496, "description": "replayed"}, authA, &p)
	if p.CIDR != "198.51.100.0/24" || p.ASN != 64496 || p.Description != "replayed" {
		t.Errorf("retried POST created %+v, want the request's cidr, asn and description", p)
	}
	all, _, err := st.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(all[KindPrefixes]); got != 3 {
		t.Errorf("stored prefixes = %d, want 3 (two external, one retried)", got)
	}
	if s := e.srv.StoreStats(); s.Conflicts != 2 {
		t.Errorf("StoreStats = %+v, want 2 conflicts", s)
	}
}

// TestClockOffsetFollowsStore: the stored clock offset is part of the
// view: another writer's fast-forward moves this Server's clock, and two
// fast-forwards through two stale Servers add up instead of one losing.
func TestClockOffsetFollowsStore(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	e1 := newEnv(t, envOpt{store: st})
	e2 := newEnv(t, envOpt{store: st})
	e1.must("POST", "/admin/v1/clock/fast-forward", map[string]string{"duration": "2h"}, noAuth, nil)
	e2.waitFor(func() bool { return e2.clk.Offset() == 2*time.Hour }, "server 2's clock at +2h (now %v)", e2.clk.Offset())

	shared := store.NewMemory()
	d1 := newEnv(t, envOpt{store: deafStore{shared}})
	d2 := newEnv(t, envOpt{store: deafStore{shared}})
	d1.must("POST", "/admin/v1/clock/fast-forward", map[string]string{"duration": "1h"}, noAuth, nil)
	d2.must("POST", "/admin/v1/clock/fast-forward", map[string]string{"duration": "2h"}, noAuth, nil)
	if got := d2.clk.Offset(); got != 3*time.Hour {
		t.Errorf("offset after +1h on one server and +2h on the other = %v, want 3h", got)
	}
	all, _, err := shared.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if off, err := storedClockOffset(all[KindMeta]); err != nil || off != 3*time.Hour {
		t.Errorf("stored offset = %v, %v; want 3h", off, err)
	}
}

// TestReloadFailureKeepsView: a store change that does not load (here a
// corrupt object) is logged and counted, the old view stays, and the next
// good change is followed.
func TestReloadFailureKeepsView(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	e := newEnv(t, envOpt{store: st})
	id := e.createPrefix("203.0.113.0/24")
	bad := "0123456789abcdef0123456789abcdef"
	if _, err := st.Apply(t.Context(), store.Put(KindPrefixes, bad, []byte("{not json"))); err != nil {
		t.Fatal(err)
	}
	e.waitFor(func() bool { return e.srv.StoreStats().ReloadFailures > 0 }, "a failed reload")
	e.must("GET", pfxPath(acctA, id), nil, authA, nil)
	// Writes fail closed while the store does not load: the view is stale.
	if r := e.do("POST", pfxPath(acctA), map[string]any{"cidr": "192.0.2.0/24", "asn": 1}, authA); r.Status != http.StatusInternalServerError {
		t.Errorf("POST while the store does not load: %d, want 500", r.Status)
	}
	if _, err := st.Apply(t.Context(), store.Del(KindPrefixes, bad)); err != nil {
		t.Fatal(err)
	}
	e.waitFor(func() bool {
		return e.do("POST", pfxPath(acctA), map[string]any{"cidr": "192.0.2.0/24", "asn": 1}, authA).Status == http.StatusOK
	}, "a write after the store was repaired")
}
