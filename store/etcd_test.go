package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/edgesim/edgesim/internal/etcdtest"
	"github.com/edgesim/edgesim/store"
	"github.com/edgesim/edgesim/store/storetest"
)

func openTestEtcd(t *testing.T, srv *etcdtest.Server, prefix string) *store.Etcd {
	t.Helper()
	e, err := store.OpenEtcd(t.Context(), store.EtcdOptions{Endpoints: []string{srv.Endpoint()}, Prefix: prefix})
	if err != nil {
		t.Fatalf("OpenEtcd(%q) = %v", prefix, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestEtcdConformance runs the conformance suite against a real etcd server, each subtest in
// its own prefix; Reopen closes the client and opens the same prefix again.
func TestEtcdConformance(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTestEtcd(t, srv, "/edgesim-test/"+t.Name()+"/")
	})
	storetest.RunPersistent(t, func(t *testing.T, path string) store.Store {
		return openTestEtcd(t, srv, path)
	})
}

// waitRev reads ch until it delivers a revision >= want.
func waitRev(t *testing.T, ch <-chan store.Rev, want store.Rev) store.Rev {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("Watch channel closed before rev %d", want)
			}
			if r >= want {
				return r
			}
		case <-timeout:
			t.Fatalf("Watch did not deliver rev %d within 10s", want)
		}
	}
}

// TestEtcdTwoClients is two edge nodes on one state: each sees the other's writes through
// Watch, Snapshot, Get and Rev.
// TestEtcdApplyIfTwoClients: ApplyIf compares against the last write of any client of the
// prefix, and only of that prefix (another state's writes move etcd's revision, not this
// store's).
func TestEtcdApplyIfTwoClients(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	a := openTestEtcd(t, srv, "/edgesim/pop/")
	b := openTestEtcd(t, srv, "/edgesim/pop/")
	other := openTestEtcd(t, srv, "/edgesim/elsewhere/")
	ctx := t.Context()
	put := func(n int) store.Op { return store.Put("prefixes", fmt.Sprintf("%032x", n), []byte("x")) }

	ra, err := a.ApplyIf(ctx, 0, put(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApplyIf(ctx, 0, put(2)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("b.ApplyIf(0) after a's write = %v, want ErrConflict", err)
	}
	if _, err := other.Apply(ctx, put(3)); err != nil {
		t.Fatal(err)
	}
	rb, err := b.ApplyIf(ctx, ra, put(2))
	if err != nil {
		t.Fatalf("b.ApplyIf(a's revision %d), with only another prefix written since = %v", ra, err)
	}
	if _, err := a.ApplyIf(ctx, ra, store.Del("prefixes", fmt.Sprintf("%032x", 2))); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a.ApplyIf(%d) after b's write at %d = %v, want ErrConflict", ra, rb, err)
	}
	if kvs, err := a.List(ctx, "prefixes"); err != nil || len(kvs) != 2 {
		t.Errorf("a.List = %s, %v; want a's and b's prefixes", storetest.FormatKVs(kvs), err)
	}
	if got, err := a.ApplyIf(ctx, rb); err != nil || got != rb {
		t.Errorf("a.ApplyIf(%d) with no ops = %d, %v", rb, got, err)
	}
}

func TestEtcdTwoClients(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	a := openTestEtcd(t, srv, "/edgesim/")
	b := openTestEtcd(t, srv, "/edgesim/")
	bw := b.Watch(t.Context()) // subscribe first, then read
	if all, rev, err := b.Snapshot(t.Context()); err != nil || len(all) != 0 || rev != 0 {
		t.Fatalf("b.Snapshot() of new state = %v, %d, %v; want empty, 0", all, rev, err)
	}

	v := []byte(`{"cidr":"192.0.2.0/24"}`)
	rev, err := a.Apply(t.Context(), store.Put("prefixes", "2af39739cc4e3b5910c918468bb89828", v),
		store.Put("bindings", "0429b49b6a5155297b78e75a4b8c9a32", []byte(`{"cidr":"192.0.2.0/24"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := waitRev(t, bw, rev); got != rev {
		t.Errorf("b's Watch delivered %d, want a's Apply rev %d", got, rev)
	}
	all, brev, err := b.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if brev != rev || len(all["prefixes"]) != 1 || !bytes.Equal(all["prefixes"][0].Value, v) || len(all["bindings"]) != 1 {
		t.Errorf("b.Snapshot() after a's write = %v @%d, want the prefix and the binding @%d", all, brev, rev)
	}
	if got, err := b.Rev(t.Context()); err != nil || got != rev {
		t.Errorf("b.Rev() = %d, %v; want %d", got, err, rev)
	}

	// And the other way round, with a delete; a's Watch sees b's write.
	aw := a.Watch(t.Context())
	rev2, err := b.Apply(t.Context(), store.Del("bindings", "0429b49b6a5155297b78e75a4b8c9a32"))
	if err != nil {
		t.Fatal(err)
	}
	if rev2 <= rev {
		t.Errorf("b's Apply rev %d, want > a's %d", rev2, rev)
	}
	waitRev(t, aw, rev2)
	if kvs, err := a.List(t.Context(), "bindings"); err != nil || len(kvs) != 0 {
		t.Errorf("a.List(bindings) after b's delete = %s, %v; want empty", storetest.FormatKVs(kvs), err)
	}

	// Writes from both at once: every one is delivered to both watchers (coalesced), and
	// both end at the same revision.
	var last store.Rev
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		r, err := s.Apply(t.Context(), store.Put("prefixes", fmt.Sprintf("%032x", i), []byte("x")))
		if err != nil {
			t.Fatal(err)
		}
		last = max(last, r)
	}
	waitRev(t, aw, last)
	waitRev(t, bw, last)
	as, arev, _ := a.Snapshot(t.Context())
	bs, brev, _ := b.Snapshot(t.Context())
	if arev != last || brev != last || !storetest.EqualSnapshots(as, bs) {
		t.Errorf("after concurrent writes: a @%d, b @%d, want both @%d and equal", arev, brev, last)
	}
}

// TestEtcdWatchAfterCompaction breaks the marker watch, lets another client write and etcd
// compact meanwhile, and resumes the watch at the compacted revision: it re-reads and
// delivers the current revision, and goes on delivering.
func TestEtcdWatchAfterCompaction(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	a, err := store.OpenEtcd(t.Context(), store.EtcdOptions{Endpoints: []string{srv.Endpoint()},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := openTestEtcd(t, srv, "/edgesim/")
	aw := a.Watch(t.Context())
	seen, err := b.Apply(t.Context(), store.Put("prefixes", "p", nil))
	if err != nil {
		t.Fatal(err)
	}
	waitRev(t, aw, seen)

	store.StopFollow(a)
	var last store.Rev
	for i := range 10 {
		if last, err = b.Apply(t.Context(), store.Put("prefixes", fmt.Sprintf("p%d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Compact(t.Context(), int64(last)); err != nil {
		t.Fatal(err)
	}
	store.StartFollow(a, int64(seen)+1) // compacted: etcd cancels this watch
	if got := waitRev(t, aw, last); got != last {
		t.Errorf("Watch after compaction delivered %d, want current %d", got, last)
	}
	next, err := b.Apply(t.Context(), store.Put("prefixes", "after", nil))
	if err != nil {
		t.Fatal(err)
	}
	waitRev(t, aw, next)
}

// TestEtcdRestartKeepsWrites kills the etcd server with SIGKILL after acknowledged writes and
// starts it again: every acknowledged write is there, the open client reconnects, and its
// Watch goes on delivering.
func TestEtcdRestartKeepsWrites(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	s := openTestEtcd(t, srv, "/edgesim/")
	w := s.Watch(t.Context())
	want := make(map[string][]byte)
	var rev store.Rev
	for i := range 50 {
		k, v := fmt.Sprintf("%032x", i), fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, strings.Repeat("x", i*13))
		r, err := s.Apply(t.Context(), store.Put("prefixes", k, v))
		if err != nil {
			t.Fatal(err)
		}
		want[k], rev = v, r
	}
	pid := srv.PID()
	srv.Restart(t)
	t.Logf("etcd pid %d killed, restarted as pid %d", pid, srv.PID())

	check := func(name string, st store.Store) {
		t.Helper()
		all, got, err := readAfterRestart(t, st)
		if err != nil {
			t.Fatalf("%s: Snapshot after restart: %v", name, err)
		}
		if got != rev || len(all["prefixes"]) != len(want) {
			t.Fatalf("%s: after restart %d objects @%d, want %d @%d", name, len(all["prefixes"]), got, len(want), rev)
		}
		for _, kv := range all["prefixes"] {
			if !bytes.Equal(kv.Value, want[kv.Key]) {
				t.Errorf("%s: %s = %q, want %q", name, kv.Key, kv.Value, want[kv.Key])
			}
		}
	}
	check("same client", s)
	check("new client", openTestEtcd(t, srv, "/edgesim/"))

	r, err := s.Apply(t.Context(), store.Put("prefixes", fmt.Sprintf("%032x", 1000), []byte("after")))
	if err != nil {
		t.Fatalf("Apply after restart: %v", err)
	}
	if r <= rev {
		t.Errorf("Apply after restart rev %d, want > %d", r, rev)
	}
	waitRev(t, w, r)
}

// readAfterRestart retries Snapshot while the client reconnects.
func readAfterRestart(t *testing.T, st store.Store) (map[string][]store.KV, store.Rev, error) {
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		all, rev, e := st.Snapshot(ctx)
		cancel()
		if e == nil {
			return all, rev, nil
		}
		err = e
	}
	return nil, 0, err
}

// TestEtcdLimits checks that a batch etcd would refuse is rejected before anything is sent,
// and that a batch of MaxOps ops on distinct keys fits etcd's default --max-txn-ops.
func TestEtcdLimits(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	s := openTestEtcd(t, srv, "/edgesim/")
	rev, err := s.Apply(t.Context(), store.Put("prefixes", "keep", []byte("v")))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, store.MaxValueSize)
	_, err = s.Apply(t.Context(), store.Put("prefixes", "a", big), store.Put("prefixes", "b", big))
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Apply(2 x %d bytes) = %v, want ErrInvalid", store.MaxValueSize, err)
	}
	t.Logf("error: %v", err)
	if got, _ := s.Rev(t.Context()); got != rev {
		t.Errorf("Rev after a refused batch = %d, want %d", got, rev)
	}
	// The same key twice in one batch is one etcd op; the last op wins.
	ops := make([]store.Op, 0, store.MaxOps)
	for i := range store.MaxOps - 1 {
		ops = append(ops, store.Put("bindings", fmt.Sprintf("%032x", i), []byte("b")))
	}
	ops = append(ops, store.Del("bindings", fmt.Sprintf("%032x", 0)))
	if _, err := s.Apply(t.Context(), ops...); err != nil {
		t.Fatalf("Apply(%d ops) = %v", len(ops), err)
	}
	if kvs, _ := s.List(t.Context(), "bindings"); len(kvs) != store.MaxOps-2 {
		t.Errorf("List(bindings) has %d objects, want %d", len(kvs), store.MaxOps-2)
	}
}

// TestOpenEtcdRefuses checks the errors of OpenEtcd: no endpoints, nothing listening, and a
// prefix that holds something other than an edgesim state.
func TestOpenEtcdRefuses(t *testing.T) {
	t.Parallel()
	if _, err := store.OpenEtcd(t.Context(), store.EtcdOptions{}); err == nil {
		t.Error("OpenEtcd(no endpoints) succeeded")
	}
	srv := etcdtest.Start(t)
	// A closed port: OpenEtcd gives up after DialTimeout.
	start := time.Now()
	_, err := store.OpenEtcd(t.Context(), store.EtcdOptions{Endpoints: []string{"http://127.0.0.1:1"}, DialTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Error("OpenEtcd(closed port) succeeded")
	} else if d := time.Since(start); d > 5*time.Second {
		t.Errorf("OpenEtcd(closed port) took %v with a 300ms dial timeout", d)
	}
	t.Logf("closed port: %v", err)

	// A prefix used by something else: a state's objects under a prefix seen as its parent.
	inner := openTestEtcd(t, srv, "/shared/edgesim/")
	if _, err := inner.Apply(t.Context(), store.Put("prefixes", "a", nil)); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"/shared/", "/shared"} {
		if e, err := store.OpenEtcd(t.Context(), store.EtcdOptions{Endpoints: []string{srv.Endpoint()}, Prefix: prefix}); !errors.Is(err, store.ErrSchema) {
			if err == nil {
				e.Close()
			}
			t.Errorf("OpenEtcd(prefix %q holding another state) = %v, want ErrSchema", prefix, err)
		} else {
			t.Logf("prefix %q: %v", prefix, err)
		}
	}
	// A revision marker of another layout version.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(t.Context(), "/newer/revision", `{"schema":2}`); err != nil {
		t.Fatal(err)
	}
	if e, err := store.OpenEtcd(t.Context(), store.EtcdOptions{Endpoints: []string{srv.Endpoint()}, Prefix: "/newer/"}); !errors.Is(err, store.ErrSchema) {
		if err == nil {
			e.Close()
		}
		t.Errorf("OpenEtcd(newer layout) = %v, want ErrSchema", err)
	} else {
		t.Logf("newer layout: %v", err)
	}
	// The prefix is normalised: "/shared/edgesim" is the same state.
	same := openTestEtcd(t, srv, "/shared/edgesim")
	if same.Prefix() != "/shared/edgesim/" {
		t.Errorf("Prefix() = %q, want %q", same.Prefix(), "/shared/edgesim/")
	}
	if _, err := same.Get(t.Context(), "prefixes", "a"); err != nil {
		t.Errorf("Get through the normalised prefix: %v", err)
	}
}
