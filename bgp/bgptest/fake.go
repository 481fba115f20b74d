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

// Sync replaces the announced set.
func (f *Fake) Sync(_ context.Context, routes []bgp.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeErrLocked(); err != nil {
		return err
	}
	m := make(map[netip.Prefix]bgp.Attrs, len(routes))
	for _, r := range routes {
		if !r.Prefix.IsValid() || r.Prefix != r.Prefix.Masked() {
			return errors.New("bgptest: invalid prefix " + r.Prefix.String())
		}
		m[r.Prefix] = r.Attrs
	}
	f.routes = m
	f.syncs++
	return nil
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
	f.routes = nil
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
	out := make([]bgp.Route, 0, len(f.routes))
	for p, a := range f.routes {
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

// Syncs counts successful Sync calls.
func (f *Fake) Syncs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs
}
