package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version written to new state files and to the revision marker
// of an etcd state. OpenBolt and OpenEtcd refuse other versions.
const SchemaVersion = 1

// File layout: bucket "meta" holds "schema" and "rev" (8-byte big-endian); bucket "data"
// holds one nested bucket per kind, mapping key to value. Empty kind buckets are removed.
var (
	bucketMeta = []byte("meta")
	bucketData = []byte("data")
	keySchema  = []byte("schema")
	keyRev     = []byte("rev")
)

// BoltOptions configures OpenBolt. The zero value is ready to use.
type BoltOptions struct {
	// LockTimeout bounds how long OpenBolt waits for the file lock held by another process
	// before it fails with ErrInUse. Zero means 2s.
	LockTimeout time.Duration
}

func (o BoltOptions) lockTimeout() time.Duration {
	if o.LockTimeout <= 0 {
		return 2 * time.Second
	}
	return o.LockTimeout
}

// Bolt is the file-backed Store (bbolt). Every Apply is one bbolt read-write transaction,
// committed with fsync before Apply returns. A Bolt holds an exclusive lock on its file until
// Close. Create one with OpenBolt; it is safe for concurrent use and must not be copied.
type Bolt struct {
	_     [0]sync.Mutex // vet -copylocks
	path  string
	watch *notifier

	mu sync.RWMutex // read-held by every call, write-held by Close
	db *bolt.DB     // nil once closed
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens the state file at path, creating it (mode 0o600) and its parent directory
// (0o700) if needed. A new file is built under a temporary name and linked into place, so a
// crash during creation never leaves a half-written state file behind. If another process
// holds the file, OpenBolt fails within opts.LockTimeout with an error wrapping ErrInUse.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if path == "" {
		return nil, errors.New("opening state file: empty path")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory %q: %w", dir, err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := createBolt(path); err != nil {
			return nil, fmt.Errorf("creating state file %q: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.lockTimeout()})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &inUseError{path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("opening state file %q: %w", path, err)
	}
	// Files made by createBolt already have their meta bucket; an empty file left by
	// someone else gets one here.
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			if k, _ := tx.Cursor().First(); k != nil {
				return fmt.Errorf("reading meta bucket: %w: not an edgesim state file (has bucket %q)", ErrSchema, k)
			}
			return errNoMeta
		}
		return initMeta(tx)
	})
	if errors.Is(err, errNoMeta) {
		err = db.Update(initMeta)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening state file %q: %w", path, err)
	}
	return &Bolt{path: path, db: db, watch: newNotifier()}, nil
}

// createBolt builds an initialised state file next to path and links it into place. If
// another process created path first, its file wins.
func createBolt(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	if err := db.Update(initMeta); err != nil {
		db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var errNoMeta = errors.New("no meta bucket")

// initMeta writes the meta bucket into a new file and checks the schema of an existing one.
func initMeta(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		var err error
		if meta, err = tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if err := meta.Put(keySchema, u64(SchemaVersion)); err != nil {
			return err
		}
		if err := meta.Put(keyRev, u64(0)); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketData)
		return err
	}
	v := meta.Get(keySchema)
	if v == nil {
		return fmt.Errorf("reading schema version: %w: missing", ErrSchema)
	}
	if len(v) != 8 {
		return fmt.Errorf("reading schema version: %w: malformed value %x", ErrSchema, v)
	}
	if got := binary.BigEndian.Uint64(v); got != SchemaVersion {
		return fmt.Errorf("checking schema version %d: %w: this build supports %d", got, ErrSchema, SchemaVersion)
	}
	if len(meta.Get(keyRev)) != 8 || tx.Bucket(bucketData) == nil {
		return fmt.Errorf("reading meta bucket: %w: missing revision or data bucket", ErrSchema)
	}
	return nil
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func readRev(tx *bolt.Tx) Rev {
	return Rev(binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyRev)))
}

type inUseError struct{ path string }

func (e *inUseError) Error() string {
	return fmt.Sprintf("state file %q is in use by another process", e.path)
}

func (e *inUseError) Is(target error) bool { return target == ErrInUse }

// Path returns the state file's path.
func (b *Bolt) Path() string { return b.path }

// Apply implements Store. Concurrent Applies are serialised, each paying its own fsync.
func (b *Bolt) Apply(ctx context.Context, ops ...Op) (Rev, error) {
	return b.apply(ctx, nil, ops)
}

// ApplyIf implements Store: the revision is compared inside the write transaction.
func (b *Bolt) ApplyIf(ctx context.Context, rev Rev, ops ...Op) (Rev, error) {
	return b.apply(ctx, &rev, ops)
}

// apply is Apply when cond is nil, else ApplyIf(*cond).
func (b *Bolt) apply(ctx context.Context, cond *Rev, ops []Op) (Rev, error) {
	if err := validateOps(ops); err != nil {
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.db == nil {
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), ErrClosed)
	}
	if len(ops) == 0 {
		rev, err := b.revLocked()
		if err == nil && cond != nil && rev != *cond {
			return 0, fmt.Errorf("applying 0 ops at revision %d: %w: the store is at %d", *cond, ErrConflict, rev)
		}
		return rev, err
	}
	var rev Rev
	err := b.db.Update(func(tx *bolt.Tx) error {
		// Waiting for the writer lock may have taken a while; nothing is written yet.
		if err := ctx.Err(); err != nil {
			return err
		}
		if cur := readRev(tx); cond != nil && cur != *cond {
			return fmt.Errorf("at revision %d: %w: the store is at %d", *cond, ErrConflict, cur)
		}
		data := tx.Bucket(bucketData)
		for i, op := range ops {
			if err := applyOp(data, op); err != nil {
				return fmt.Errorf("applying op %d %q: %w", i, op.Kind+"/"+op.Key, err)
			}
		}
		rev = readRev(tx) + 1
		return tx.Bucket(bucketMeta).Put(keyRev, u64(uint64(rev)))
	})
	if err != nil {
		return 0, fmt.Errorf("applying %d ops to %q: %w", len(ops), b.path, err)
	}
	b.watch.notify(rev)
	return rev, nil
}

func applyOp(data *bolt.Bucket, op Op) error {
	if op.Delete {
		objs := data.Bucket([]byte(op.Kind))
		if objs == nil {
			return nil
		}
		if err := objs.Delete([]byte(op.Key)); err != nil {
			return err
		}
		if k, _ := objs.Cursor().First(); k == nil {
			return data.DeleteBucket([]byte(op.Kind))
		}
		return nil
	}
	objs, err := data.CreateBucketIfNotExists([]byte(op.Kind))
	if err != nil {
		return err
	}
	return objs.Put([]byte(op.Key), op.Value)
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, kind, key string) ([]byte, error) {
	name := kind + "/" + key
	if err := validateName("kind", kind); err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	if err := validateName("key", key); err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	var v []byte
	err := b.view(ctx, func(tx *bolt.Tx) error {
		objs := tx.Bucket(bucketData).Bucket([]byte(kind))
		if objs == nil {
			return ErrNotFound
		}
		raw := objs.Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		v = cloneValue(raw)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	return v, nil
}

// List implements Store.
func (b *Bolt) List(ctx context.Context, kind string) ([]KV, error) {
	if err := validateName("kind", kind); err != nil {
		return nil, fmt.Errorf("listing kind %q: %w", kind, err)
	}
	var kvs []KV
	err := b.view(ctx, func(tx *bolt.Tx) error {
		kvs = listBucket(tx.Bucket(bucketData).Bucket([]byte(kind)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing kind %q: %w", kind, err)
	}
	return kvs, nil
}

func listBucket(objs *bolt.Bucket) []KV {
	if objs == nil {
		return nil
	}
	var kvs []KV
	c := objs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		kvs = append(kvs, KV{Key: string(k), Value: cloneValue(v)})
	}
	return kvs
}

// Snapshot implements Store. It reads everything in one bbolt read transaction.
func (b *Bolt) Snapshot(ctx context.Context) (map[string][]KV, Rev, error) {
	all := make(map[string][]KV)
	var rev Rev
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rev = readRev(tx)
		data := tx.Bucket(bucketData)
		return data.ForEachBucket(func(kind []byte) error {
			if kvs := listBucket(data.Bucket(kind)); len(kvs) > 0 {
				all[string(kind)] = kvs
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading snapshot of %q: %w", b.path, err)
	}
	return all, rev, nil
}

// Rev implements Store.
func (b *Bolt) Rev(ctx context.Context) (Rev, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("reading revision: %w", err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.db == nil {
		return 0, fmt.Errorf("reading revision: %w", ErrClosed)
	}
	return b.revLocked()
}

// revLocked reads the revision; b.mu must be held and b.db open.
func (b *Bolt) revLocked() (Rev, error) {
	var rev Rev
	err := b.db.View(func(tx *bolt.Tx) error {
		rev = readRev(tx)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading revision of %q: %w", b.path, err)
	}
	return rev, nil
}

// view runs fn in a read transaction, or returns ErrClosed or ctx's error.
func (b *Bolt) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.db == nil {
		return ErrClosed
	}
	return b.db.View(fn)
}

// Watch implements Store. It sees only this process's Applies.
func (b *Bolt) Watch(ctx context.Context) <-chan Rev { return b.watch.watch(ctx) }

// Close implements Store: it waits for in-flight calls, closes the file and releases its lock.
func (b *Bolt) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db == nil {
		return nil
	}
	b.watch.close()
	err := b.db.Close()
	b.db = nil
	if err != nil {
		return fmt.Errorf("closing state file %q: %w", b.path, err)
	}
	return nil
}
