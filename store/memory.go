package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Memory is an in-memory Store for tests of other packages. Nothing survives the process.
// Create one with NewMemory; it is safe for concurrent use and must not be copied.
type Memory struct {
	_  [0]sync.Mutex // vet -copylocks
	mu sync.RWMutex
	// data maps kind to key to value; a kind with no objects has no entry.
	data   map[string]map[string][]byte
	rev    Rev
	closed bool
	watch  *notifier
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store at revision 0.
func NewMemory() *Memory {
	return &Memory{data: make(map[string]map[string][]byte), watch: newNotifier()}
}

// Apply implements Store.
func (m *Memory) Apply(ctx context.Context, ops ...Op) (Rev, error) {
	return m.apply(ctx, nil, ops)
}

// ApplyIf implements Store: the revision is compared under the store's lock.
func (m *Memory) ApplyIf(ctx context.Context, rev Rev, ops ...Op) (Rev, error) {
	return m.apply(ctx, &rev, ops)
}

// apply is Apply when cond is nil, else ApplyIf(*cond).
func (m *Memory) apply(ctx context.Context, cond *Rev, ops []Op) (Rev, error) {
	if err := validateOps(ops); err != nil {
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), ErrClosed)
	}
	if cond != nil && *cond != m.rev {
		rev := m.rev
		m.mu.Unlock()
		return 0, fmt.Errorf("applying %d ops at revision %d: %w: the store is at %d", len(ops), *cond, ErrConflict, rev)
	}
	if len(ops) == 0 {
		rev := m.rev
		m.mu.Unlock()
		return rev, nil
	}
	for _, op := range ops {
		objs := m.data[op.Kind]
		if op.Delete {
			delete(objs, op.Key)
			if len(objs) == 0 {
				delete(m.data, op.Kind)
			}
			continue
		}
		if objs == nil {
			objs = make(map[string][]byte)
			m.data[op.Kind] = objs
		}
		objs[op.Key] = cloneValue(op.Value)
	}
	m.rev++
	rev := m.rev
	m.mu.Unlock()
	m.watch.notify(rev)
	return rev, nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, kind, key string) ([]byte, error) {
	name := kind + "/" + key
	if err := validateName("kind", kind); err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	if err := validateName("key", key); err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("getting object %q: %w", name, ErrClosed)
	}
	v, ok := m.data[kind][key]
	if !ok {
		return nil, fmt.Errorf("getting object %q: %w", name, ErrNotFound)
	}
	return cloneValue(v), nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, kind string) ([]KV, error) {
	if err := validateName("kind", kind); err != nil {
		return nil, fmt.Errorf("listing kind %q: %w", kind, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing kind %q: %w", kind, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("listing kind %q: %w", kind, ErrClosed)
	}
	return m.listLocked(kind), nil
}

func (m *Memory) listLocked(kind string) []KV {
	objs := m.data[kind]
	if len(objs) == 0 {
		return nil
	}
	kvs := make([]KV, 0, len(objs))
	for _, k := range slices.Sorted(maps.Keys(objs)) {
		kvs = append(kvs, KV{Key: k, Value: cloneValue(objs[k])})
	}
	return kvs
}

// Snapshot implements Store.
func (m *Memory) Snapshot(ctx context.Context) (map[string][]KV, Rev, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading snapshot: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, 0, fmt.Errorf("reading snapshot: %w", ErrClosed)
	}
	all := make(map[string][]KV, len(m.data))
	for kind := range m.data {
		all[kind] = m.listLocked(kind)
	}
	return all, m.rev, nil
}

// Rev implements Store.
func (m *Memory) Rev(ctx context.Context) (Rev, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("reading revision: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, fmt.Errorf("reading revision: %w", ErrClosed)
	}
	return m.rev, nil
}

// Watch implements Store.
func (m *Memory) Watch(ctx context.Context) <-chan Rev { return m.watch.watch(ctx) }

// Close implements Store. It drops the data.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.data = nil
	m.watch.close()
	return nil
}
