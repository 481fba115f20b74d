// Package storetest is the conformance suite that every store.Store backend must pass.
//
// Typical usage, in a backend's test file:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
//	}
//
// Persistent backends also call RunPersistent, which closes a store and reopens its file.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesim/edgesim/store"
)

// Run runs the conformance suite. newStore must return a new, empty store; the suite closes
// it (newStore may also register its own t.Cleanup, Close is idempotent).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	open := func(t *testing.T) store.Store {
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutGet", testPutGet},
		{"GetMissing", testGetMissing},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"ListSorted", testListSorted},
		{"ValuesAreCopied", testValuesAreCopied},
		{"EmptyValue", testEmptyValue},
		{"InvalidOps", testInvalidOps},
		{"InvalidReads", testInvalidReads},
		{"Atomicity", testAtomicity},
		{"OpsInOrder", testOpsInOrder},
		{"RevMonotonic", testRevMonotonic},
		{"ApplyIf", testApplyIf},
		{"ApplyIfConcurrent", testApplyIfConcurrent},
		{"Snapshot", testSnapshot},
		{"SnapshotConsistent", testSnapshotConsistent},
		{"ConcurrentApply", testConcurrentApply},
		{"CancelledContext", testCancelledContext},
		{"Watch", testWatch},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// RunPersistent checks that state survives Close. open(t, path) must open the store kept at
// path (a location inside a fresh t.TempDir); it is called several times with the same path.
func RunPersistent(t *testing.T, open func(t *testing.T, path string) store.Store) {
	t.Run("Reopen", func(t *testing.T) {
		t.Parallel()
		testReopen(t, open)
	})
}

// id returns a 32-hex ID like the api's.
func id(n int) string { return fmt.Sprintf("%032x", n) }

func mustApply(t *testing.T, s store.Store, ops ...store.Op) store.Rev {
	t.Helper()
	rev, err := s.Apply(t.Context(), ops...)
	if err != nil {
		t.Fatalf("Apply(%v) = %v", ops, err)
	}
	return rev
}

func mustGet(t *testing.T, s store.Store, kind, key string) []byte {
	t.Helper()
	v, err := s.Get(t.Context(), kind, key)
	if err != nil {
		t.Fatalf("Get(%q, %q) = %v", kind, key, err)
	}
	return v
}

func mustList(t *testing.T, s store.Store, kind string) []store.KV {
	t.Helper()
	kvs, err := s.List(t.Context(), kind)
	if err != nil {
		t.Fatalf("List(%q) = %v", kind, err)
	}
	return kvs
}

func mustSnapshot(t *testing.T, s store.Store) (map[string][]store.KV, store.Rev) {
	t.Helper()
	all, rev, err := s.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("Snapshot() = %v", err)
	}
	return all, rev
}

func mustRev(t *testing.T, s store.Store) store.Rev {
	t.Helper()
	rev, err := s.Rev(t.Context())
	if err != nil {
		t.Fatalf("Rev() = %v", err)
	}
	return rev
}

// FormatKVs renders a list compactly for failure messages.
func FormatKVs(kvs []store.KV) string {
	var b strings.Builder
	b.WriteString("[")
	for i, kv := range kvs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%q", kv.Key, kv.Value)
	}
	b.WriteString("]")
	return b.String()
}

// EqualKVs reports whether two lists hold the same keys and values in the same order; nil
// and empty values are equal.
func EqualKVs(a, b []store.KV) bool {
	return slices.EqualFunc(a, b, func(x, y store.KV) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value)
	})
}

// EqualSnapshots reports whether two snapshots hold the same kinds and lists.
func EqualSnapshots(a, b map[string][]store.KV) bool {
	return maps.EqualFunc(a, b, EqualKVs)
}

func testPutGet(t *testing.T, s store.Store) {
	v := []byte(`{"cidr":"192.0.2.0/24","asn":64496}`)
	mustApply(t, s, store.Put("prefixes", id(1), v))
	if got := mustGet(t, s, "prefixes", id(1)); !bytes.Equal(got, v) {
		t.Errorf("Get = %q, want %q", got, v)
	}
	if _, err := s.Get(t.Context(), "bindings", id(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(other kind, same key) = %v, want ErrNotFound", err)
	}
}

func testGetMissing(t *testing.T, s store.Store) {
	_, err := s.Get(t.Context(), "prefixes", id(404))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), id(404)) {
		t.Errorf("Get(missing) error %q does not name the key", err)
	}
}

func testOverwrite(t *testing.T, s store.Store) {
	mustApply(t, s, store.Put("prefixes", id(1), []byte(`{"v":1}`)))
	mustApply(t, s, store.Put("prefixes", id(1), []byte(`{"v":2}`)))
	if got := mustGet(t, s, "prefixes", id(1)); string(got) != `{"v":2}` {
		t.Errorf("Get after overwrite = %q, want %q", got, `{"v":2}`)
	}
	if kvs := mustList(t, s, "prefixes"); len(kvs) != 1 {
		t.Errorf("List after overwrite = %s, want one object", FormatKVs(kvs))
	}
}

func testDelete(t *testing.T, s store.Store) {
	mustApply(t, s, store.Put("prefixes", id(1), []byte("a")), store.Put("prefixes", id(2), []byte("b")))
	rev := mustApply(t, s, store.Del("prefixes", id(1)))
	if _, err := s.Get(t.Context(), "prefixes", id(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(deleted) = %v, want ErrNotFound", err)
	}
	if kvs := mustList(t, s, "prefixes"); !EqualKVs(kvs, []store.KV{{Key: id(2), Value: []byte("b")}}) {
		t.Errorf("List after delete = %s", FormatKVs(kvs))
	}
	// Deleting a missing object, or one of an unknown kind, is not an error.
	rev2 := mustApply(t, s, store.Del("prefixes", id(1)), store.Del("nosuchkind", id(1)))
	if rev2 <= rev {
		t.Errorf("Apply(delete missing) rev = %d, want > %d", rev2, rev)
	}
	// Deleting the last object of a kind removes the kind from Snapshot.
	mustApply(t, s, store.Del("prefixes", id(2)))
	if kvs := mustList(t, s, "prefixes"); len(kvs) != 0 {
		t.Errorf("List of emptied kind = %s, want empty", FormatKVs(kvs))
	}
	if all, _ := mustSnapshot(t, s); len(all) != 0 {
		t.Errorf("Snapshot after deleting everything has kinds %v, want none", slices.Sorted(maps.Keys(all)))
	}
}

func testListSorted(t *testing.T, s store.Store) {
	if kvs := mustList(t, s, "prefixes"); len(kvs) != 0 {
		t.Fatalf("List(unknown kind) = %s, want empty", FormatKVs(kvs))
	}
	var ops []store.Op
	var want []store.KV
	for _, n := range []int{7, 3, 0xff, 1, 0x10, 42, 9} {
		v := fmt.Appendf(nil, `{"n":%d}`, n)
		ops = append(ops, store.Put("prefixes", id(n), v))
		want = append(want, store.KV{Key: id(n), Value: v})
	}
	// Byte order, including non-hex keys.
	ops = append(ops, store.Put("prefixes", "Z", []byte("z")), store.Put("prefixes", "a~", []byte("a")))
	want = append(want, store.KV{Key: "Z", Value: []byte("z")}, store.KV{Key: "a~", Value: []byte("a")})
	slices.SortFunc(want, func(a, b store.KV) int { return strings.Compare(a.Key, b.Key) })
	mustApply(t, s, ops...)
	mustApply(t, s, store.Put("bindings", id(1), []byte("other kind")))
	if got := mustList(t, s, "prefixes"); !EqualKVs(got, want) {
		t.Errorf("List = %s\nwant %s", FormatKVs(got), FormatKVs(want))
	}
}

func testValuesAreCopied(t *testing.T, s store.Store) {
	in := []byte("original")
	mustApply(t, s, store.Put("prefixes", id(1), in))
	copy(in, "MUTATED!")
	got := mustGet(t, s, "prefixes", id(1))
	if string(got) != "original" {
		t.Fatalf("Get after mutating Apply's input = %q, want %q", got, "original")
	}
	copy(got, "MUTATED!")
	mustList(t, s, "prefixes")[0].Value[0] = 'X'
	all, _ := mustSnapshot(t, s)
	all["prefixes"][0].Value[0] = 'X'
	if got := mustGet(t, s, "prefixes", id(1)); string(got) != "original" {
		t.Errorf("Get after mutating returned values = %q, want %q", got, "original")
	}
}

func testEmptyValue(t *testing.T, s store.Store) {
	mustApply(t, s, store.Put("prefixes", id(1), nil), store.Put("prefixes", id(2), []byte{}))
	for _, key := range []string{id(1), id(2)} {
		got := mustGet(t, s, "prefixes", key)
		if got == nil || len(got) != 0 {
			t.Errorf("Get(%q) = %#v, want empty non-nil", key, got)
		}
	}
	if kvs := mustList(t, s, "prefixes"); len(kvs) != 2 {
		t.Errorf("List = %s, want 2 objects", FormatKVs(kvs))
	}
}

// invalidOps are ops every backend must reject with ErrInvalid.
var invalidOps = []struct {
	name string
	op   store.Op
}{
	{"empty kind", store.Put("", id(1), nil)},
	{"empty key", store.Put("prefixes", "", nil)},
	{"slash in kind", store.Put("pre/fixes", id(1), nil)},
	{"slash in key", store.Put("prefixes", "a/b", nil)},
	{"key is slash", store.Put("prefixes", "/", nil)},
	{"NUL in kind", store.Put("pre\x00fixes", id(1), nil)},
	{"NUL in key", store.Put("prefixes", "a\x00", nil)},
	{"long key", store.Put("prefixes", strings.Repeat("a", store.MaxNameLen+1), nil)},
	{"long kind", store.Put(strings.Repeat("k", store.MaxNameLen+1), id(1), nil)},
	{"large value", store.Put("prefixes", id(1), make([]byte, store.MaxValueSize+1))},
	{"delete empty key", store.Del("prefixes", "")},
	{"delete slash kind", store.Del("a/b", id(1))},
}

func testInvalidOps(t *testing.T, s store.Store) {
	rev := mustApply(t, s, store.Put("prefixes", id(1), []byte("keep")))
	for _, tt := range invalidOps {
		if _, err := s.Apply(t.Context(), tt.op); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Apply(%s) = %v, want ErrInvalid", tt.name, err)
		}
	}
	ops := make([]store.Op, store.MaxOps+1)
	for i := range ops {
		ops[i] = store.Put("prefixes", id(1000+i), nil)
	}
	if _, err := s.Apply(t.Context(), ops...); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Apply(%d ops) = %v, want ErrInvalid", len(ops), err)
	}
	if r, err := s.Apply(t.Context(), ops[:store.MaxOps]...); err != nil {
		t.Errorf("Apply(%d ops) = %v, want nil", store.MaxOps, err)
	} else {
		rev = r
	}
	// Long names up to the limit and unusual bytes are fine.
	okOps := []store.Op{
		store.Put("prefixes", strings.Repeat("a", store.MaxNameLen), []byte("long")),
		store.Put("prefixes", "ключ 🔑 \t\xff", []byte("odd")),
		store.Put("prefixes", id(5), make([]byte, store.MaxValueSize)),
	}
	if got := mustApply(t, s, okOps...); got <= rev {
		t.Errorf("Apply(valid edge cases) rev = %d, want > %d", got, rev)
	}
	if got := mustGet(t, s, "prefixes", id(1)); string(got) != "keep" {
		t.Errorf("Get after rejected ops = %q, want %q", got, "keep")
	}
}

func testInvalidReads(t *testing.T, s store.Store) {
	for _, tt := range []struct{ kind, key string }{{"", id(1)}, {"prefixes", ""}, {"a/b", id(1)}, {"prefixes", "a/b"}, {"prefixes", "\x00"}} {
		if _, err := s.Get(t.Context(), tt.kind, tt.key); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Get(%q, %q) = %v, want ErrInvalid", tt.kind, tt.key, err)
		}
	}
	for _, kind := range []string{"", "a/b", "a\x00"} {
		if _, err := s.List(t.Context(), kind); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("List(%q) = %v, want ErrInvalid", kind, err)
		}
	}
}

func testAtomicity(t *testing.T, s store.Store) {
	mustApply(t, s, store.Put("prefixes", id(1), []byte("v1")), store.Put("bindings", id(1), []byte("b1")))
	before, rev := mustSnapshot(t, s)
	for _, tt := range invalidOps {
		ops := []store.Op{
			store.Put("prefixes", id(1), []byte("changed")),
			store.Put("prefixes", id(2), []byte("new")),
			store.Del("bindings", id(1)),
			tt.op,
			store.Put("services", id(3), []byte("new kind")),
		}
		if _, err := s.Apply(t.Context(), ops...); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Apply(batch with %s) = %v, want ErrInvalid", tt.name, err)
		}
	}
	after, rev2 := mustSnapshot(t, s)
	if rev2 != rev {
		t.Errorf("Rev after rejected batches = %d, want %d", rev2, rev)
	}
	if !EqualSnapshots(after, before) {
		t.Errorf("state changed by rejected batches:\n got %v\nwant %v", after, before)
	}
}

// testApplyIf: ApplyIf writes only at the expected revision; a conflict or an invalid batch
// changes nothing, not even the revision.
func testApplyIf(t *testing.T, s store.Store) {
	ctx := t.Context()
	r1, err := s.ApplyIf(ctx, 0, store.Put("prefixes", id(1), []byte("v1")))
	if err != nil || r1 <= 0 {
		t.Fatalf("ApplyIf(0) on a new store = %d, %v; want a revision > 0", r1, err)
	}
	if got := mustRev(t, s); got != r1 {
		t.Errorf("Rev() after ApplyIf = %d, want %d", got, r1)
	}
	before, _ := mustSnapshot(t, s)
	for _, stale := range []store.Rev{0, r1 - 1, r1 + 1} {
		if stale == r1 {
			continue
		}
		if _, err := s.ApplyIf(ctx, stale, store.Put("prefixes", id(1), []byte("lost")), store.Put("prefixes", id(2), []byte("lost"))); !errors.Is(err, store.ErrConflict) {
			t.Errorf("ApplyIf(%d) at revision %d = %v, want ErrConflict", stale, r1, err)
		}
		if _, err := s.ApplyIf(ctx, stale); !errors.Is(err, store.ErrConflict) {
			t.Errorf("ApplyIf(%d) with no ops at revision %d = %v, want ErrConflict", stale, r1, err)
		}
	}
	if _, err := s.ApplyIf(ctx, r1, store.Put("prefixes", id(3), []byte("x")), invalidOps[0].op); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ApplyIf(current, invalid batch) = %v, want ErrInvalid", err)
	}
	if _, err := s.ApplyIf(ctx, 0, invalidOps[0].op); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ApplyIf(stale, invalid batch) = %v, want ErrInvalid (checked first)", err)
	}
	after, rev := mustSnapshot(t, s)
	if rev != r1 || !EqualSnapshots(after, before) {
		t.Errorf("state after failed ApplyIfs = %v @%d, want %v @%d", after, rev, before, r1)
	}
	if got, err := s.ApplyIf(ctx, r1); err != nil || got != r1 {
		t.Errorf("ApplyIf(current) with no ops = %d, %v; want %d", got, err, r1)
	}

	// Plain Applies move the revision too.
	r2 := mustApply(t, s, store.Put("prefixes", id(2), []byte("other writer")))
	if _, err := s.ApplyIf(ctx, r1, store.Del("prefixes", id(2))); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ApplyIf(%d) after an Apply to %d = %v, want ErrConflict", r1, r2, err)
	}
	r3, err := s.ApplyIf(ctx, r2, store.Del("prefixes", id(2)), store.Put("prefixes", id(1), []byte("v2")))
	if err != nil || r3 <= r2 {
		t.Fatalf("ApplyIf(%d) at %d = %d, %v; want a later revision", r2, r2, r3, err)
	}
	want := []store.KV{{Key: id(1), Value: []byte("v2")}}
	if got := mustList(t, s, "prefixes"); !EqualKVs(got, want) {
		t.Errorf("List = %s, want %s", FormatKVs(got), FormatKVs(want))
	}
}

// testApplyIfConcurrent: writers increment one counter by read-check-ApplyIf, retrying on
// ErrConflict. No increment is lost, and every conflict was real.
func testApplyIfConcurrent(t *testing.T, s store.Store) {
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for done := 0; done < each; {
				all, rev, err := s.Snapshot(t.Context())
				if err != nil {
					errs <- err
					return
				}
				n := 0
				if kvs := all["counter"]; len(kvs) == 1 {
					fmt.Sscan(string(kvs[0].Value), &n)
				}
				_, err = s.ApplyIf(t.Context(), rev, store.Put("counter", id(0), []byte(fmt.Sprint(n+1))))
				switch {
				case errors.Is(err, store.ErrConflict):
				case err != nil:
					errs <- err
					return
				default:
					done++
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := string(mustGet(t, s, "counter", id(0))); got != fmt.Sprint(writers*each) {
		t.Errorf("counter = %s after %d increments by ApplyIf, want %d", got, writers*each, writers*each)
	}
}

func testOpsInOrder(t *testing.T, s store.Store) {
	mustApply(t, s,
		store.Put("prefixes", id(1), []byte("first")),
		store.Put("prefixes", id(1), []byte("second")),
		store.Put("prefixes", id(2), []byte("x")),
		store.Del("prefixes", id(2)),
		store.Del("prefixes", id(3)),
		store.Put("prefixes", id(3), []byte("y")),
	)
	want := []store.KV{{Key: id(1), Value: []byte("second")}, {Key: id(3), Value: []byte("y")}}
	if got := mustList(t, s, "prefixes"); !EqualKVs(got, want) {
		t.Errorf("List = %s, want %s", FormatKVs(got), FormatKVs(want))
	}
}

func testRevMonotonic(t *testing.T, s store.Store) {
	if got := mustRev(t, s); got != 0 {
		t.Errorf("Rev() of new store = %d, want 0", got)
	}
	if got := mustApply(t, s); got != 0 {
		t.Errorf("Apply() with no ops = %d, want 0", got)
	}
	var last store.Rev
	for i := range 20 {
		rev := mustApply(t, s, store.Put("prefixes", id(i%3), fmt.Appendf(nil, "%d", i)))
		if rev <= last {
			t.Fatalf("Apply #%d rev = %d, want > %d", i, rev, last)
		}
		if got := mustRev(t, s); got != rev {
			t.Fatalf("Rev() after Apply #%d = %d, want %d", i, got, rev)
		}
		last = rev
	}
	if got := mustApply(t, s); got != last {
		t.Errorf("Apply() with no ops = %d, want current rev %d", got, last)
	}
	if _, err := s.Apply(t.Context(), store.Put("", "", nil)); err == nil {
		t.Fatal("Apply(invalid) = nil, want error")
	}
	if got := mustRev(t, s); got != last {
		t.Errorf("Rev() after failed Apply = %d, want %d", got, last)
	}
}

func testSnapshot(t *testing.T, s store.Store) {
	if all, rev := mustSnapshot(t, s); len(all) != 0 || rev != 0 {
		t.Errorf("Snapshot() of new store = %v, %d; want empty, 0", all, rev)
	}
	kinds := []string{"prefixes", "bindings", "apps"}
	for i := range 30 {
		mustApply(t, s, store.Put(kinds[i%3], id(i), fmt.Appendf(nil, `{"i":%d}`, i)))
	}
	mustApply(t, s, store.Del("apps", id(2)))
	all, rev := mustSnapshot(t, s)
	if want := mustRev(t, s); rev != want {
		t.Errorf("Snapshot rev = %d, want Rev() %d", rev, want)
	}
	if got := slices.Sorted(maps.Keys(all)); !slices.Equal(got, []string{"apps", "bindings", "prefixes"}) {
		t.Errorf("Snapshot kinds = %v", got)
	}
	for _, kind := range kinds {
		if want := mustList(t, s, kind); !EqualKVs(all[kind], want) {
			t.Errorf("Snapshot[%q] = %s, want List %s", kind, FormatKVs(all[kind]), FormatKVs(want))
		}
	}
}

// testSnapshotConsistent checks that Snapshot never observes half of an Apply: a writer keeps
// putting the same generation into two kinds in one batch while readers take snapshots.
func testSnapshotConsistent(t *testing.T, s store.Store) {
	const gens = 60
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for g := range gens {
			v := fmt.Appendf(nil, "%d", g)
			if _, err := s.Apply(t.Context(), store.Put("left", id(1), v), store.Put("right", id(1), v), store.Put("right", id(g+2), v)); err != nil {
				t.Errorf("Apply gen %d: %v", g, err)
				return
			}
		}
	})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				all, rev, err := s.Snapshot(t.Context())
				if err != nil {
					t.Errorf("Snapshot: %v", err)
					return
				}
				l, r := all["left"], all["right"]
				if len(l) == 0 && len(r) == 0 {
					continue
				}
				if len(l) != 1 || len(r) == 0 || !bytes.Equal(l[0].Value, r[0].Value) {
					t.Errorf("Snapshot at rev %d is torn: left=%s right[0]=%v", rev, FormatKVs(l), r[:min(1, len(r))])
					return
				}
				var g int
				fmt.Sscan(string(l[0].Value), &g)
				if len(r) != g+2 {
					t.Errorf("Snapshot at rev %d: generation %d with %d right objects, want %d", rev, g, len(r), g+2)
					return
				}
			}
		})
	}
	wg.Wait()
}

func testConcurrentApply(t *testing.T, s store.Store) {
	const workers, perWorker = 16, 12
	start := mustRev(t, s)
	revs := make([][]store.Rev, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				n := w*perWorker + i
				ops := []store.Op{store.Put("prefixes", id(n), fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i))}
				if i%3 == 0 {
					ops = append(ops, store.Put("bindings", id(n), []byte("b")))
				}
				rev, err := s.Apply(t.Context(), ops...)
				if err != nil {
					t.Errorf("worker %d Apply %d: %v", w, i, err)
					return
				}
				revs[w] = append(revs[w], rev)
				// Readers run alongside the writers.
				if _, err := s.Get(t.Context(), "prefixes", id(n)); err != nil {
					t.Errorf("worker %d Get own write %d: %v", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	seen := make(map[store.Rev]bool)
	var maxRev store.Rev
	for w, rs := range revs {
		for i, r := range rs {
			if r <= start || seen[r] {
				t.Errorf("worker %d Apply %d rev %d: not new (start %d)", w, i, r, start)
			}
			if i > 0 && r <= rs[i-1] {
				t.Errorf("worker %d revs not increasing: %v", w, rs)
			}
			seen[r] = true
			maxRev = max(maxRev, r)
		}
	}
	if got := mustRev(t, s); got != maxRev {
		t.Errorf("Rev() = %d, want highest returned rev %d", got, maxRev)
	}
	if kvs := mustList(t, s, "prefixes"); len(kvs) != workers*perWorker {
		t.Errorf("List(prefixes) has %d objects, want %d", len(kvs), workers*perWorker)
	}
	if kvs := mustList(t, s, "bindings"); len(kvs) != workers*((perWorker+2)/3) {
		t.Errorf("List(bindings) has %d objects, want %d", len(kvs), workers*((perWorker+2)/3))
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Apply(ctx, store.Put("prefixes", id(1), []byte("x"))); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply(cancelled ctx) = %v, want context.Canceled", err)
	}
	if _, err := s.Get(t.Context(), "prefixes", id(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after cancelled Apply = %v, want ErrNotFound", err)
	}
	if got := mustRev(t, s); got != 0 {
		t.Errorf("Rev() after cancelled Apply = %d, want 0", got)
	}
}

func testWatch(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := s.Watch(ctx)
	var last store.Rev
	for i := range 5 {
		last = mustApply(t, s, store.Put("prefixes", id(i), nil))
	}
	// Notifications coalesce, but the latest revision always arrives.
	timeout := time.After(10 * time.Second)
	for got := store.Rev(0); got < last; {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatal("Watch channel closed early")
			}
			if r <= got {
				t.Fatalf("Watch sent %d after %d, want increasing", r, got)
			}
			got = r
		case <-timeout:
			t.Fatalf("Watch did not deliver rev %d", last)
		}
	}
	cancel()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("Watch channel not closed after ctx cancel")
		}
	}
}

func testClosed(t *testing.T, s store.Store) {
	mustApply(t, s, store.Put("prefixes", id(1), []byte("x")))
	ch := s.Watch(t.Context())
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	ctx := t.Context()
	if _, err := s.Apply(ctx, store.Put("prefixes", id(2), nil)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Apply(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Apply() after Close = %v, want ErrClosed", err)
	}
	if _, err := s.ApplyIf(ctx, 1, store.Put("prefixes", id(2), nil)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ApplyIf after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Get(ctx, "prefixes", id(1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := s.List(ctx, "prefixes"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("List after Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.Snapshot(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Snapshot after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Rev(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Rev after Close = %v, want ErrClosed", err)
	}
	for _, c := range []<-chan store.Rev{ch, s.Watch(ctx)} {
		select {
		case _, ok := <-c:
			if ok {
				t.Errorf("Watch channel delivered after Close")
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Watch channel not closed by Close")
		}
	}
}

func testReopen(t *testing.T, open func(t *testing.T, path string) store.Store) {
	path := t.TempDir() + "/state/edgesim.db"
	s := open(t, path)
	for i := range 10 {
		mustApply(t, s, store.Put("prefixes", id(i), fmt.Appendf(nil, `{"i":%d}`, i)), store.Put("bindings", id(i), []byte("b")))
	}
	mustApply(t, s, store.Del("bindings", id(0)))
	want, wantRev := mustSnapshot(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	for round := range 3 {
		s = open(t, path)
		got, gotRev := mustSnapshot(t, s)
		if gotRev != wantRev || !EqualSnapshots(got, want) {
			t.Fatalf("reopen %d: Snapshot = %v @%d, want %v @%d", round, got, gotRev, want, wantRev)
		}
		r := mustApply(t, s, store.Put("prefixes", id(100+round), []byte("after reopen")))
		if r <= wantRev {
			t.Errorf("reopen %d: Apply rev = %d, want > %d", round, r, wantRev)
		}
		want, wantRev = mustSnapshot(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("reopen %d: Close() = %v", round, err)
		}
	}
}
