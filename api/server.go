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
// Create one with New; it is safe for concurrent use. Close stops its
// validation worker.
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
	state *config.State // guarded by mu; replaced object by object, never mutated in place

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
	st, err := loadState(ctx, opts.Store)
	if err != nil {
		return nil, err
	}
	s := &Server{
		daemon:    opts.Daemon,
		store:     opts.Store,
		validator: opts.Validator,
		clock:     opts.Clock,
		log:       opts.Logger,
		delays:    opts.Daemon.Timing.Delays(),
		accounts:  map[string]bool{},
		state:     st,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if s.validator == nil {
		s.validator = AutoValid{}
	}
	if s.clock == nil {
		s.clock = clock.New(nil)
	}
	if err := restoreClockOffset(ctx, s.store, s.clock); err != nil {
		return nil, err
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.log = s.log.With("component", "api")
	for _, a := range opts.Daemon.Accounts {
		s.accounts[a.ID] = true
	}
	s.handler = s.routes()
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.runValidations(wctx) })
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

// Close stops the validation worker and waits for it. It does not close the
// store. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		s.wg.Wait()
	})
	return nil
}

func loadKind[T any](kvs []store.KV, kind string, into map[string]*T) error {
	for _, kv := range kvs {
		v := new(T)
		if err := json.Unmarshal(kv.Value, v); err != nil {
			return fmt.Errorf("loading state: decoding %s/%s: %w", kind, kv.Key, err)
		}
		into[kv.Key] = v
	}
	return nil
}

func loadState(ctx context.Context, st store.Store) (*config.State, error) {
	all, _, err := st.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading state: %w", err)
	}
	state := config.NewState()
	if err := errors.Join(
		loadKind(all[KindPrefixes], KindPrefixes, state.Prefixes),
		loadKind(all[KindDelegations], KindDelegations, state.Delegations),
		loadKind(all[KindBindings], KindBindings, state.Bindings),
		loadKind(all[KindBGPPrefixes], KindBGPPrefixes, state.BGPPrefixes),
		loadKind(all[KindSpectrum], KindSpectrum, state.SpectrumApps),
		loadKind(all[KindZones], KindZones, state.Zones),
		loadKind(all[KindDNSRecords], KindDNSRecords, state.DNSRecords),
		loadKind(all[KindAddressMaps], KindAddressMaps, state.AddressMaps),
		loadKind(all[KindAccessRules], KindAccessRules, state.AccessRules),
		loadKind(all[KindLOADocuments], KindLOADocuments, state.LOADocuments),
	); err != nil {
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

// commitLocked persists changes in one atomic store.Apply and, only when that
// succeeded, installs them in memory. The caller holds s.mu for writing and
// must not have modified any object of s.state (changes carry copies).
func (s *Server) commitLocked(ctx context.Context, changes ...change) error {
	ops := make([]store.Op, 0, len(changes))
	for _, c := range changes {
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
	if _, err := s.store.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("persisting %d changes: %w", len(ops), err)
	}
	for _, c := range changes {
		switch o := c.obj.(type) {
		case *config.Prefix:
			s.state.Prefixes[c.id] = o
		case *config.Delegation:
			s.state.Delegations[c.id] = o
		case *config.Binding:
			s.state.Bindings[c.id] = o
		case *config.BGPPrefix:
			s.state.BGPPrefixes[c.id] = o
		case *config.SpectrumApp:
			s.state.SpectrumApps[c.id] = o
		case *config.Zone:
			s.state.Zones[c.id] = o
		case *config.DNSRecord:
			s.state.DNSRecords[c.id] = o
		case *config.AddressMap:
			s.state.AddressMaps[c.id] = o
		case *config.AccessRule:
			s.state.AccessRules[c.id] = o
		case *config.LOADocument:
			s.state.LOADocuments[c.id] = o
		case nil:
			switch c.kind {
			case KindPrefixes:
				delete(s.state.Prefixes, c.id)
			case KindDelegations:
				delete(s.state.Delegations, c.id)
			case KindBindings:
				delete(s.state.Bindings, c.id)
			case KindBGPPrefixes:
				delete(s.state.BGPPrefixes, c.id)
			case KindSpectrum:
				delete(s.state.SpectrumApps, c.id)
			case KindZones:
				delete(s.state.Zones, c.id)
			case KindDNSRecords:
				delete(s.state.DNSRecords, c.id)
			case KindAddressMaps:
				delete(s.state.AddressMaps, c.id)
			case KindAccessRules:
				delete(s.state.AccessRules, c.id)
			case KindLOADocuments:
				delete(s.state.LOADocuments, c.id)
			}
		}
	}
	return nil
}
