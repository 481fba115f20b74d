package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Store persists control-plane objects: opaque values (JSON blobs) grouped by kind and keyed by
// ID. Implementations are safe for concurrent use.
type Store interface {
	// Apply applies ops atomically, in order: all of them or none. Invalid ops (see ErrInvalid)
	// are rejected before anything is written. A cancelled ctx is honoured before the write
	// begins; once the write has begun it completes. When Apply returns a nil error the change
	// is durable (fsynced for the file backend) and the returned Rev is the revision of the
	// store after the change. Apply with no ops writes nothing and returns the current Rev.
	// Apply does not retain the ops' Values after it returns.
	Apply(ctx context.Context, ops ...Op) (Rev, error)

	// ApplyIf is Apply on the condition that the store's revision is still rev. When another
	// Apply (of this process or, for a shared backend, of another) has moved the revision,
	// nothing is written and the error wraps ErrConflict. Check and write are one atomic step:
	// a caller that read the state at rev (Snapshot, or its own last Apply) and checked its
	// change against that state knows on success that nothing came in between, and on
	// ErrConflict reads again and re-checks (compare-and-swap on the whole store). Invalid ops
	// wrap ErrInvalid whatever the revision. With no ops it writes nothing and returns the
	// current Rev, or ErrConflict when that is not rev.
	ApplyIf(ctx context.Context, rev Rev, ops ...Op) (Rev, error)

	// Get returns a copy of the value stored under kind/key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, kind, key string) ([]byte, error)

	// List returns the objects of one kind sorted by key (byte order). An unknown kind gives an
	// empty list, not an error.
	List(ctx context.Context, kind string) ([]KV, error)

	// Snapshot returns every object of every non-empty kind, each list sorted by key, and the
	// revision they belong to, read in one consistent view. It is what the daemon loads at start.
	Snapshot(ctx context.Context) (map[string][]KV, Rev, error)

	// Rev returns the current revision: 0 for an empty store, strictly increased by every
	// successful Apply with at least one op.
	Rev(ctx context.Context) (Rev, error)

	// Watch returns a channel that receives the store's revision after changes. Notifications
	// are coalesced: a slow reader may miss intermediate revisions but always receives the
	// latest one. Changes made by Applies that returned before Watch was called are not
	// notified, so subscribe first and then read (Snapshot). The channel is closed when ctx is
	// done or the store is closed.
	Watch(ctx context.Context) <-chan Rev

	// Close releases the store. Calls made after Close return ErrClosed; Close itself is
	// idempotent. In-flight calls complete first.
	Close() error
}

// Rev is a store revision. Revisions strictly increase with each successful Apply but need
// not be consecutive (the etcd backend uses etcd's cluster-wide revision).
type Rev int64

// Op is one change inside an Apply: a put of Value under Kind/Key, or, when Delete is set, the
// removal of Kind/Key (deleting a missing object is not an error). Build Ops with Put and Del.
type Op struct {
	Kind   string
	Key    string
	Value  []byte // ignored when Delete is set
	Delete bool
}

// Put returns an Op that stores value under kind/key.
func Put(kind, key string, value []byte) Op { return Op{Kind: kind, Key: key, Value: value} }

// Del returns an Op that removes kind/key.
func Del(kind, key string) Op { return Op{Kind: kind, Key: key, Delete: true} }

// String describes the op without its value, for error messages.
func (o Op) String() string {
	if o.Delete {
		return fmt.Sprintf("delete %s/%s", o.Kind, o.Key)
	}
	return fmt.Sprintf("put %s/%s (%d bytes)", o.Kind, o.Key, len(o.Value))
}

// KV is one stored object.
type KV struct {
	Key   string
	Value []byte
}

// Limits shared by all backends, so that a batch accepted by one is accepted by all. They fit
// etcd's defaults (--max-txn-ops 128, --max-request-bytes 1.5 MiB): the etcd backend's
// transaction holds the batch plus a put of its revision marker, hence 127 ops. The request
// size of a batch is limited by the etcd backend alone (see Etcd.Apply): a batch of several
// values near MaxValueSize fits a Bolt file but not one etcd request.
const (
	MaxOps       = 127     // ops per Apply
	MaxNameLen   = 512     // bytes in a kind or key
	MaxValueSize = 1 << 20 // bytes in a value
)

var (
	// ErrNotFound is wrapped by Get when the object does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrClosed is wrapped by every call made after Close.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid is wrapped when an op, kind or key is malformed: an empty name, a name with
	// '/' or NUL or longer than MaxNameLen, a value larger than MaxValueSize, or more than
	// MaxOps ops in one Apply; and, by the etcd backend, when a batch's transaction is larger
	// than the server accepts. Nothing is written.
	ErrInvalid = errors.New("store: invalid op")
	// ErrConflict is wrapped by ApplyIf when the store's revision is not the expected one.
	// Nothing is written.
	ErrConflict = errors.New("store: revision moved")
	// ErrInUse is wrapped by OpenBolt when another process holds the state file's lock.
	ErrInUse = errors.New("store: state file in use")
	// ErrSchema is wrapped by OpenBolt when the file's schema version is not supported, and by
	// OpenEtcd when the prefix holds another layout or keys that are not an edgesim state.
	ErrSchema = errors.New("store: unsupported schema version")
)

// checkName reports why s is not a valid kind or key, or "" if it is.
func checkName(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > MaxNameLen:
		return fmt.Sprintf("longer than %d bytes", MaxNameLen)
	case strings.IndexByte(s, '/') >= 0:
		return "contains '/'"
	case strings.IndexByte(s, 0) >= 0:
		return "contains NUL"
	}
	return ""
}

// validateName returns an error wrapping ErrInvalid if s is not a valid kind or key; what is
// "kind" or "key".
func validateName(what, s string) error {
	if reason := checkName(s); reason != "" {
		return fmt.Errorf("checking %s %q: %w: %s", what, s, ErrInvalid, reason)
	}
	return nil
}

// validateOps checks a whole batch and reports every problem at once.
func validateOps(ops []Op) error {
	var errs []error
	if len(ops) > MaxOps {
		errs = append(errs, fmt.Errorf("checking batch of %d ops: %w: more than %d ops", len(ops), ErrInvalid, MaxOps))
	}
	for i, op := range ops {
		if err := validateName("kind", op.Kind); err != nil {
			errs = append(errs, fmt.Errorf("checking op %d: %w", i, err))
		}
		if err := validateName("key", op.Key); err != nil {
			errs = append(errs, fmt.Errorf("checking op %d: %w", i, err))
		}
		if !op.Delete && len(op.Value) > MaxValueSize {
			errs = append(errs, fmt.Errorf("checking op %d value of %q: %w: %d bytes, limit %d", i, op.Kind+"/"+op.Key, ErrInvalid, len(op.Value), MaxValueSize))
		}
	}
	return errors.Join(errs...)
}

// cloneValue copies v; the result is never nil, so an empty value reads back as []byte{}.
func cloneValue(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}
