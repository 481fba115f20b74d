package store_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgesim/edgesim/store"
	"github.com/edgesim/edgesim/store/storetest"
)

// Names the fuzzer picks from, including invalid ones.
var (
	fuzzKinds = []string{"prefixes", "bindings", "apps", "", "a/b", "k\x00"}
	fuzzKeys  = []string{
		"00000000000000000000000000000001", "00000000000000000000000000000002",
		"0000000000000000000000000000000a", "ffffffffffffffffffffffffffffffff",
		"Z", "a", "", "/", "x\x00",
	}
)

// decodeOps turns fuzz input into batches of ops. Each op is 3 bytes: flags (bit 0 delete,
// bit 1 ends the batch, bits 2-7 value length), kind index, key index.
func decodeOps(data []byte) [][]store.Op {
	var batches [][]store.Op
	var cur []store.Op
	for i := 0; i+3 <= len(data) && len(batches) < 24; i += 3 {
		flags, k, key := data[i], data[i+1], data[i+2]
		op := store.Op{
			Kind:   fuzzKinds[int(k)%len(fuzzKinds)],
			Key:    fuzzKeys[int(key)%len(fuzzKeys)],
			Delete: flags&1 != 0,
		}
		if !op.Delete {
			op.Value = make([]byte, flags>>2)
			for j := range op.Value {
				op.Value[j] = byte(i + j)
			}
		}
		cur = append(cur, op)
		if flags&2 != 0 {
			batches = append(batches, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

// FuzzOps applies random op sequences to Memory and Bolt and requires identical results:
// the same errors, revisions, lists and snapshots.
func FuzzOps(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzOps.
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := store.NewMemory()
		defer mem.Close()
		bolt, err := store.OpenBolt(filepath.Join(t.TempDir(), "fuzz.db"), store.BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer bolt.Close()
		for i, ops := range decodeOps(data) {
			mrev, merr := mem.Apply(t.Context(), ops...)
			brev, berr := bolt.Apply(t.Context(), ops...)
			if (merr == nil) != (berr == nil) || mrev != brev {
				t.Fatalf("batch %d %v: Memory = %d, %v; Bolt = %d, %v", i, ops, mrev, merr, brev, berr)
			}
			if merr != nil && (!errors.Is(merr, store.ErrInvalid) || !errors.Is(berr, store.ErrInvalid)) {
				t.Fatalf("batch %d %v: errors are not ErrInvalid: Memory %v, Bolt %v", i, ops, merr, berr)
			}
		}
		for _, kind := range fuzzKinds {
			ml, merr := mem.List(t.Context(), kind)
			bl, berr := bolt.List(t.Context(), kind)
			if (merr == nil) != (berr == nil) || !storetest.EqualKVs(ml, bl) {
				t.Fatalf("List(%q): Memory = %s, %v; Bolt = %s, %v", kind, storetest.FormatKVs(ml), merr, storetest.FormatKVs(bl), berr)
			}
			if !slices.IsSortedFunc(bl, func(a, b store.KV) int { return strings.Compare(a.Key, b.Key) }) {
				t.Fatalf("List(%q) not sorted: %s", kind, storetest.FormatKVs(bl))
			}
		}
		ms, mrev, err := mem.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		bs, brev, err := bolt.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if mrev != brev || !storetest.EqualSnapshots(ms, bs) {
			t.Fatalf("Snapshot: Memory = %v @%d; Bolt = %v @%d", ms, mrev, bs, brev)
		}
		if err := store.CheckConsistency(bolt); err != nil {
			t.Fatal(err)
		}
	})
}
