// Package bgptest provides Fake, an in-memory bgp.Announcer for data-plane
// tests that need a BGP speaker without sockets or root.
package bgptest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"

	"github.com/edgesim/edgesim/bgp"
)

// Fake records what it is asked to announce. Every configured peer is
// reported Established and holding the whole announced set. The zero value
// is ready to use and safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	peers  []bgp.PeerConfig
	routes map[netip.Prefix]bgp.Attrs
	staged map[netip.Prefix]bgp.Attrs
	syncs  int
	closed bool
	// Err, when set, is returned by the next SetPeers or Sync and cleared.
	Err error
}

var _ bgp.Announcer = (*Fake)(nil)

// SetPeers records peers.
func (f *Fake) SetPeers(_ context.Context, peers []bgp.PeerConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeErrLocked(); err != nil {
		return err
	}
	var errs []error
	for _, p := range peers {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	f.peers = slices.Clone(peers)
	return nil
}

// Sync replaces the announced set and stages nothing.
func (f *Fake) Sync(ctx context.Context, routes []bgp.Route) error {
	return f.SyncStaged(ctx, routes, nil)
}

// SyncStaged replaces the announced and the staged set; a prefix in both
// is announced.
func (f *Fake) SyncStaged(_ context.Context, announce, stage []bgp.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeErrLocked(); err != nil {
		return err
	}
	m, err := routeMap(announce)
	if err != nil {
		return err
	}
	st, err := routeMap(stage)
	if err != nil {
		return err
	}
	for p := range m {
		delete(st, p)
	}
	f.routes, f.staged = m, st
	f.syncs++
	return nil
}

func routeMap(routes []bgp.Route) (map[netip.Prefix]bgp.Attrs, error) {
	m := make(map[netip.Prefix]bgp.Attrs, len(routes))
	for _, r := range routes {
		if !r.Prefix.IsValid() || r.Prefix != r.Prefix.Masked() {
			return nil, errors.New("bgptest: invalid prefix " + r.Prefix.String())
		}
		m[r.Prefix] = r.Attrs
	}
	return m, nil
}

func (f *Fake) takeErrLocked() error {
	if f.closed {
		return bgp.ErrClosed
	}
	err := f.Err
	f.Err = nil
	return err
}

// Status reports every peer Established with the announced set sent.
func (f *Fake) Status() []bgp.PeerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]bgp.PeerStatus, 0, len(f.peers))
	for _, p := range f.peers {
		out = append(out, bgp.PeerStatus{Address: p.Address, PeerAS: p.PeerAS, State: bgp.StateEstablished, PrefixesSent: len(f.routes)})
	}
	return out
}

// Close withdraws everything; later calls fail with bgp.ErrClosed.
func (f *Fake) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.routes, f.staged = nil, nil
	return nil
}

// Announced reports whether p is announced, and with which attributes.
func (f *Fake) Announced(p netip.Prefix) (bgp.Attrs, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.routes[p]
	return a, ok
}

// Routes returns the announced set, sorted by prefix.
func (f *Fake) Routes() []bgp.Route {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sorted(f.routes)
}

// Staged returns the staged set, sorted by prefix.
func (f *Fake) Staged() []bgp.Route {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sorted(f.staged)
}

func sorted(m map[netip.Prefix]bgp.Attrs) []bgp.Route {
	out := make([]bgp.Route, 0, len(m))
	for p, a := range m {
		out = append(out, bgp.Route{Prefix: p, Attrs: a})
	}
	slices.SortFunc(out, func(a, b bgp.Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// Syncs counts successful Sync and SyncStaged calls.
func (f *Fake) Syncs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs
}
