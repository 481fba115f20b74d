package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/clock"
	"github.com/edgesim/edgesim/store"
)

// Store kinds of the objects the API persists. Each value is the JSON of the
// config type (config.Prefix, ...), keyed by the object's ID.
const (
	KindPrefixes    = "prefixes"
	KindDelegations = "delegations"
	KindBindings    = "bindings"
	KindBGPPrefixes = "bgp_prefixes"
	KindSpectrum    = "spectrum_apps"
	KindZones       = "zones"
	KindDNSRecords  = "dns_records"
)

// Options configure a Server. Daemon and Store are required.
type Options struct {
	// Daemon holds the accounts, credentials and timing. Required.
	Daemon *config.Daemon
	// Store persists the state. Required; the Server does not close it.
	Store store.Store
	// Validator runs the prefix checks. Nil means AutoValid.
	Validator Validator
	// Clock is the control-plane clock. Nil means real time.
	Clock *clock.Clock
	// Logger receives the API's logs. Nil means discard.
	Logger *slog.Logger
}

// Server is the Cloudflare-compatible addressing API plus the lab admin API.
// Create one with New; it is safe for concurrent use. It follows its store:
// changes written by others (another node on a shared etcd state, a tool)
// are reloaded into its view. Close stops its validation worker and the
// store watcher.
type Server struct {
	daemon    *config.Daemon
	store     store.Store
	validator Validator
	clock     *clock.Clock
	log       *slog.Logger
	delays    config.Delays
	accounts  map[string]bool
	handler   http.Handler

	mu    sync.RWMutex
	state *config.State // guarded by mu; replaced object by object or whole, never mutated in place
	// rev, guarded by mu, is the store revision that state and the clock
	// offset are exactly: the revision of the last load or of the last own
	// commit, which is conditional on it (store.ApplyIf), so nothing
	// written by others can hide below it.
	rev store.Rev

	reloads        atomic.Int64 // views replaced after others' writes
	reloadFailures atomic.Int64 // reloads that failed; the old view was kept
	conflicts      atomic.Int64 // commits refused because the store had moved

	limiter     *rateLimiter // api.rate_limit per credential
	rateLimited atomic.Int64 // requests answered 429 by the limiter
	faultMu     sync.Mutex
	faults      []*fault     // guarded by faultMu; pending injected faults, oldest first
	faultsHit   atomic.Int64 // requests answered by an injected fault

	wake      chan struct{} // buffered(1): a validation was requested
	done      chan struct{} // closed by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New loads the state from opts.Store and starts the validation worker. It
// fails when the stored data cannot be decoded or breaks the model's
// invariants.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Daemon == nil {
		return nil, errors.New("creating api server: no daemon config")
	}
	if opts.Store == nil {
		return nil, errors.New("creating api server: no store")
	}
	// Subscribe before the initial read, so that no change after it is
	// missed (store.Watch); the watcher lives until Close.
	wctx, cancel := context.WithCancel(context.Background())
	changes := opts.Store.Watch(wctx)
	v, err := readStore(ctx, opts.Store)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Server{
		daemon:    opts.Daemon,
		store:     opts.Store,
		validator: opts.Validator,
		clock:     opts.Clock,
		log:       opts.Logger,
		delays:    opts.Daemon.Timing.Delays(),
		limiter:   newRateLimiter(opts.Daemon.API.RateLimit),
		accounts:  map[string]bool{},
		state:     v.state,
		rev:       v.rev,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if s.validator == nil {
		s.validator = AutoValid{}
	}
	if s.clock == nil {
		s.clock = clock.New(nil)
	}
	s.clock.FastForward(v.offset - s.clock.Offset()) // a no-op when the clock is ahead
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.log = s.log.With("component", "api")
	for _, a := range opts.Daemon.Accounts {
		s.accounts[a.ID] = true
	}
	s.handler = s.routes()
	s.cancel = cancel
	s.wg.Go(func() { s.runValidations(wctx) })
	s.wg.Go(func() { s.followStore(wctx, changes) })
	return s, nil
}

// Handler returns the HTTP handler: the API under /client/v4/ and at /, the
// admin API under /admin/v1/.
func (s *Server) Handler() http.Handler { return s.handler }

// State returns a deep copy of the current state.
func (s *Server) State() *config.State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.Clone()
}

// StoreStats counts how a Server followed its store.
type StoreStats struct {
	// Reloads is how often the view was replaced because others wrote to
	// the store. A Server's own commits never cause one.
	Reloads int64
	// ReloadFailures counts reloads that failed (the store could not be
	// read, or holds objects that fail to decode or config.State.Check);
	// the old view was kept until the next change.
	ReloadFailures int64
	// Conflicts counts commits that store.ApplyIf refused because the store
	// had moved past the view they were checked against; each reloaded the
	// view and re-ran its request.
	Conflicts int64
}

// StoreStats returns the counters of following the store.
func (s *Server) StoreStats() StoreStats {
	return StoreStats{Reloads: s.reloads.Load(), ReloadFailures: s.reloadFailures.Load(), Conflicts: s.conflicts.Load()}
}

// Close stops the validation worker and the store watcher and waits for
// them. It does not close the store. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		s.wg.Wait()
	})
	return nil
}

// persisted is one kind of object the API stores: its store kind and how it
// is loaded into, put in and deleted from a State. persistedKinds is the one
// list of them; loading and committing both go through it.
type persisted struct {
	fits func(obj any) bool // obj is this kind's object type
	load func(st *config.State, kvs []store.KV) error
	put  func(st *config.State, id string, obj any)
	del  func(st *config.State, id string)
}

func kindOf[T any](kind string, m func(*config.State) map[string]*T) persisted {
	return persisted{
		fits: func(obj any) bool { _, ok := obj.(*T); return ok },
		load: func(st *config.State, kvs []store.KV) error {
			into := m(st)
			for _, kv := range kvs {
				v := new(T)
				if err := json.Unmarshal(kv.Value, v); err != nil {
					return fmt.Errorf("loading state: decoding %s/%s: %w", kind, kv.Key, err)
				}
				into[kv.Key] = v
			}
			return nil
		},
		put: func(st *config.State, id string, obj any) { m(st)[id] = obj.(*T) },
		del: func(st *config.State, id string) { delete(m(st), id) },
	}
}

var persistedKinds = map[string]persisted{
	KindPrefixes:     kindOf(KindPrefixes, func(st *config.State) map[string]*config.Prefix { return st.Prefixes }),
	KindDelegations:  kindOf(KindDelegations, func(st *config.State) map[string]*config.Delegation { return st.Delegations }),
	KindBindings:     kindOf(KindBindings, func(st *config.State) map[string]*config.Binding { return st.Bindings }),
	KindBGPPrefixes:  kindOf(KindBGPPrefixes, func(st *config.State) map[string]*config.BGPPrefix { return st.BGPPrefixes }),
	KindSpectrum:     kindOf(KindSpectrum, func(st *config.State) map[string]*config.SpectrumApp { return st.SpectrumApps }),
	KindZones:        kindOf(KindZones, func(st *config.State) map[string]*config.Zone { return st.Zones }),
	KindDNSRecords:   kindOf(KindDNSRecords, func(st *config.State) map[string]*config.DNSRecord { return st.DNSRecords }),
	KindAddressMaps:  kindOf(KindAddressMaps, func(st *config.State) map[string]*config.AddressMap { return st.AddressMaps }),
	KindAccessRules:  kindOf(KindAccessRules, func(st *config.State) map[string]*config.AccessRule { return st.AccessRules }),
	KindLOADocuments: kindOf(KindLOADocuments, func(st *config.State) map[string]*config.LOADocument { return st.LOADocuments }),
}

func loadState(ctx context.Context, st store.Store) (*config.State, error) {
	all, _, err := st.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading state: %w", err)
	}
	return decodeState(all)
}

// storedView is what a Server keeps of its store, read in one Snapshot: the
// state, the clock offset and the revision they belong to.
type storedView struct {
	state  *config.State
	offset time.Duration
	rev    store.Rev
}

func readStore(ctx context.Context, st store.Store) (storedView, error) {
	all, rev, err := st.Snapshot(ctx)
	if err != nil {
		return storedView{}, fmt.Errorf("loading state: %w", err)
	}
	state, err := decodeState(all)
	if err != nil {
		return storedView{}, err
	}
	off, err := storedClockOffset(all[KindMeta])
	if err != nil {
		return storedView{}, err
	}
	return storedView{state: state, offset: off, rev: rev}, nil
}

// decodeState decodes the persisted kinds of a Snapshot and checks them.
func decodeState(all map[string][]store.KV) (*config.State, error) {
	state := config.NewState()
	var errs []error
	for kind, k := range persistedKinds {
		errs = append(errs, k.load(state, all[kind]))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := state.Check(); err != nil {
		return nil, fmt.Errorf("loading state: stored objects are inconsistent: %w", err)
	}
	return state, nil
}

// change is one object to persist: a put of obj, or a delete when obj is nil.
type change struct {
	kind, id string
	obj      any
}

func putPrefix(p *config.Prefix) change           { return change{KindPrefixes, p.ID, p} }
func putDelegation(d *config.Delegation) change   { return change{KindDelegations, d.ID, d} }
func putBinding(b *config.Binding) change         { return change{KindBindings, b.ID, b} }
func putBGPPrefix(b *config.BGPPrefix) change     { return change{KindBGPPrefixes, b.ID, b} }
func putSpectrumApp(a *config.SpectrumApp) change { return change{KindSpectrum, a.ID, a} }
func putZone(z *config.Zone) change               { return change{KindZones, z.ID, z} }
func putDNSRecord(r *config.DNSRecord) change     { return change{KindDNSRecords, r.ID, r} }
func del(kind, id string) change                  { return change{kind: kind, id: id} }

// zoneOf returns the zone an object belongs to, "" for none.
func zoneOf(obj any) string {
	switch o := obj.(type) {
	case *config.DNSRecord:
		return o.ZoneID
	case *config.SpectrumApp:
		return o.ZoneID
	case *config.AccessRule:
		if o.Scope == config.ScopeZone {
			return o.ScopeID
		}
	}
	return ""
}

// commitLocked persists changes in one atomic applyLocked and, only when that
// succeeded, installs them in memory. The caller holds s.mu for writing and
// must not have modified any object of s.state (changes carry copies).
//
// An object put into a zone that no longer exists is 404: handlers look
// the path's zone up in authorize, before they take s.mu, so a concurrent
// zone DELETE could otherwise leave a record, app or rule dangling.
func (s *Server) commitLocked(ctx context.Context, changes ...change) error {
	for _, c := range changes {
		if z := zoneOf(c.obj); z != "" {
			if _, ok := s.zoneLocked(z); !ok {
				return notFound("zone %s", z)
			}
		}
	}
	ops := make([]store.Op, 0, len(changes))
	for _, c := range changes {
		k, ok := persistedKinds[c.kind]
		if !ok || (c.obj != nil && !k.fits(c.obj)) {
			return fmt.Errorf("committing %s/%s: a %T is not a persisted %s", c.kind, c.id, c.obj, c.kind)
		}
		if c.obj == nil {
			ops = append(ops, store.Del(c.kind, c.id))
			continue
		}
		b, err := json.Marshal(c.obj)
		if err != nil {
			return fmt.Errorf("encoding %s/%s: %w", c.kind, c.id, err)
		}
		ops = append(ops, store.Put(c.kind, c.id, b))
	}
	if err := s.applyLocked(ctx, ops...); err != nil {
		return err
	}
	for _, c := range changes {
		if k := persistedKinds[c.kind]; c.obj == nil {
			k.del(s.state, c.id)
		} else {
			k.put(s.state, c.id, c.obj)
		}
	}
	return nil
}

// errStale is wrapped by applyLocked when the store had moved past the view
// the caller checked its change against. Nothing was written and the view
// has been reloaded: the caller's checks must run again (serveHTTP re-runs
// the request).
var errStale = errors.New("api: the stored state changed under the request")

// applyLocked writes ops with store.ApplyIf at s.rev, so that they land only
// on the state they were checked against, and moves s.rev to the new
// revision (an own commit: the watcher does not reload for it). When the
// store has moved (another node or tool wrote), it reloads the view and
// returns an error wrapping errStale and store.ErrConflict. The caller
// holds s.mu for writing.
func (s *Server) applyLocked(ctx context.Context, ops ...store.Op) error {
	rev, err := s.store.ApplyIf(ctx, s.rev, ops...)
	if err == nil {
		s.rev = rev
		return nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("persisting %d changes: %w", len(ops), err)
	}
	s.conflicts.Add(1)
	v, rerr := readStore(ctx, s.store)
	if rerr != nil {
		s.reloadFailures.Add(1)
		return fmt.Errorf("persisting %d changes: %w; reloading the state: %w", len(ops), err, rerr)
	}
	s.installLocked(v)
	s.log.Debug("write conflict; state reloaded", "revision", v.rev)
	return fmt.Errorf("persisting %d changes: %w: %w", len(ops), errStale, err)
}

// installLocked makes v the view unless the view is already at v's
// revision or later (an own commit newer than the read: v would lose it).
// The clock follows the stored offset (it never moves back). The caller
// holds s.mu for writing.
func (s *Server) installLocked(v storedView) bool {
	if v.rev <= s.rev {
		return false
	}
	s.state, s.rev = v.state, v.rev
	s.clock.FastForward(v.offset - s.clock.Offset())
	s.reloads.Add(1)
	select { // due validations may have changed
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// followStore reloads the view whenever the store's revision moves past
// s.rev, i.e. after writes other than this Server's own (which set s.rev
// as they commit, under s.mu, before the watcher can compare). Watch
// coalesces notifications, so a burst of writes costs one reload (at most
// one more if the burst goes on while it runs). A failed reload is logged
// and counted; the old view stays until the next change. The read happens
// without the lock, so requests are not held up by it.
func (s *Server) followStore(ctx context.Context, changes <-chan store.Rev) {
	for {
		var rev store.Rev
		select {
		case <-ctx.Done():
			return
		case r, ok := <-changes:
			if !ok {
				return // the store was closed
			}
			rev = r
		}
		s.mu.RLock()
		known := s.rev
		s.mu.RUnlock()
		if rev <= known {
			continue // an own commit, or already loaded
		}
		v, err := readStore(ctx, s.store)
		if err != nil {
			if ctx.Err() == nil {
				s.reloadFailures.Add(1)
				s.log.Error("reloading the state from the store; keeping the old view until the next change", "revision", rev, "err", err)
			}
			continue
		}
		s.mu.Lock()
		installed := s.installLocked(v)
		s.mu.Unlock()
		if installed {
			s.log.Debug("state reloaded from the store", "revision", v.rev)
		}
	}
}
