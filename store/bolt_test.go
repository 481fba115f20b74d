package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesim/edgesim/store"
	"github.com/edgesim/edgesim/store/storetest"
)

func openTestBolt(t *testing.T, path string) *store.Bolt {
	t.Helper()
	b, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatalf("OpenBolt(%q) = %v", path, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBoltConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTestBolt(t, filepath.Join(t.TempDir(), "edgesim.db"))
	})
	storetest.RunPersistent(t, func(t *testing.T, path string) store.Store {
		b := openTestBolt(t, path)
		checkBolt(t, b)
		return b
	})
}

// checkBolt runs bbolt's consistency check on an open file.
func checkBolt(t *testing.T, b *store.Bolt) {
	t.Helper()
	if err := store.CheckConsistency(b); err != nil {
		t.Fatalf("consistency check of %q: %v", b.Path(), err)
	}
}

func TestOpenBoltCreatesPrivateFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "var", "lib", "edgesim")
	path := filepath.Join(dir, "state.db")
	b := openTestBolt(t, path)
	checkBolt(t, b)
	for _, tt := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {path, 0o600}} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask can only remove bits.
		if got := fi.Mode(); got&^tt.mode != 0 {
			t.Errorf("mode of %q = %v, want at most %v", tt.path, got, tt.mode)
		}
	}
	// No temporary files are left behind.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("state directory holds %d entries, want only the state file", len(ents))
	}
}

func TestOpenBoltInUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "edgesim.db")
	first := openTestBolt(t, path)
	const timeout = 200 * time.Millisecond
	start := time.Now()
	second, err := store.OpenBolt(path, store.BoltOptions{LockTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatal("second OpenBolt on a locked file succeeded")
	}
	if !errors.Is(err, store.ErrInUse) {
		t.Fatalf("second OpenBolt = %v, want ErrInUse", err)
	}
	if want := fmt.Sprintf("state file %q is in use by another process", path); err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("second OpenBolt took %v, lock timeout %v", elapsed, timeout)
	}
	// After the first one closes, the file opens again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openTestBolt(t, path)
}

func TestOpenBoltNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "edgesim.db")
	b := openTestBolt(t, path)
	if err := store.SetSchemaVersion(b, store.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	b.Close()
	_, err := store.OpenBolt(path, store.BoltOptions{})
	if !errors.Is(err, store.ErrSchema) {
		t.Fatalf("store.OpenBolt(newer schema) = %v, want ErrSchema", err)
	}
	t.Logf("error: %v", err)
}

func TestOpenBoltBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not a bbolt file, just some text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("meta")) // no schema key
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	other := filepath.Join(dir, "other.db")
	db, err = bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("another-apps-data"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, path := range []string{garbage, foreign, other, dir, ""} {
		b, err := store.OpenBolt(path, store.BoltOptions{LockTimeout: 100 * time.Millisecond})
		if err == nil {
			b.Close()
			t.Errorf("store.OpenBolt(%q) succeeded, want error", path)
			continue
		}
		t.Logf("store.OpenBolt(%q): %v", path, err)
	}
}
