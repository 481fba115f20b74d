package node

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/proxy"
)

// maxListenPorts caps how many ports of one app's edge port range get a
// listener. Routing covers the whole range; only listening is bounded, so
// a large range cannot exhaust file descriptors. Ranges beyond the cap are
// logged once per app and generation of the range.
const maxListenPorts = 1024

// listenKey is one wildcard listener: a transport and a port.
type listenKey struct {
	t    proxy.Transport
	port uint16
}

// proxyListener is the state of one listener the applied snapshot wants:
// open, or the error of the last attempt to open it (retried with the next
// snapshot).
type proxyListener struct {
	Transport string `json:"transport"` // "tcp" or "udp"
	Port      uint16 `json:"port"`
	Open      bool   `json:"open"`
	Error     string `json:"error,omitempty"`
}

// proxyNode feeds the Spectrum proxy from published snapshots. Building a
// snapshot's routing index allocates per app, so snapshots are handed over
// through a one-slot mailbox (as to the BGP announcer and the DNS updater):
// the reconciler never waits and the proxy converges on the latest
// snapshot. The run goroutine owns the set of listeners: one wildcard
// listener per (transport, port) some app uses, opened when an app starts
// using it and closed when none does. Closing a TCP listener stops accepting
// only; established connections keep their App and run to completion.
// Closing a UDP listener ends that socket's flows (the socket is their
// client side). Each update publishes an immutable copy of the listener
// set (listenerStates) for readers on other goroutines.
type proxyNode struct {
	p    *proxy.Proxy
	pool []netip.Prefix // the anycast pool: dynamic apps' addresses are served from it
	log  *slog.Logger

	box *mailbox

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	// Owned by the run goroutine.
	built     uint64
	listeners map[listenKey]context.CancelFunc
	failed    map[listenKey]string // last listen error logged per key
	capped    map[string]string    // app ID -> protocol logged as over maxListenPorts

	// states is the listener set after the last update, sorted by
	// transport and port; the slice is never modified once stored.
	states atomic.Pointer[[]proxyListener]
}

// startProxy starts the proxy and its updater; it serves nothing until a
// snapshot is published.
func startProxy(pool []netip.Prefix, reg prometheus.Registerer, log *slog.Logger) (*proxyNode, error) {
	p, err := proxy.New(proxy.Options{Logger: log, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("starting the proxy: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	n := &proxyNode{
		p: p, pool: pool, log: log.With("component", "node"),
		box: newMailbox(), stop: stop, done: make(chan struct{}),
		listeners: map[listenKey]context.CancelFunc{},
		failed:    map[listenKey]string{},
		capped:    map[string]string{},
	}
	go func() { defer close(n.done); n.run(ctx) }()
	return n, nil
}

// publish hands s to the updater; it never blocks.
func (n *proxyNode) publish(s *config.Snapshot) { n.box.Put(s) }

// run applies the latest snapshot until ctx is done.
func (n *proxyNode) run(ctx context.Context) {
	for {
		s, ok := n.box.Take(ctx)
		if !ok {
			return
		}
		n.update(ctx, s)
	}
}

// update stores s's routing config in the proxy, then opens the listeners
// it needs and closes those it no longer needs. The config is stored first
// so a new listener never serves an older snapshot's apps.
func (n *proxyNode) update(ctx context.Context, s *config.Snapshot) {
	if s.Generation != 0 && s.Generation <= n.built {
		return
	}
	n.built = s.Generation
	cfg, ports := n.build(s)
	n.p.Store(cfg)
	for k, closeLn := range n.listeners {
		if !ports[k] {
			closeLn()
			delete(n.listeners, k)
			n.log.Debug("proxy listener closed", "transport", k.t, "port", k.port)
		}
	}
	for k := range ports {
		if _, ok := n.listeners[k]; ok {
			continue
		}
		lctx, closeLn := context.WithCancel(ctx)
		addr, err := n.p.Listen(lctx, k.t, k.port)
		if err != nil {
			closeLn()
			if msg := err.Error(); n.failed[k] != msg {
				n.failed[k] = msg
				n.log.Error("opening a proxy listener; retrying with the next snapshot", "transport", k.t, "port", k.port, "err", err)
			}
			continue
		}
		delete(n.failed, k)
		n.listeners[k] = closeLn
		n.log.Debug("proxy listener opened", "transport", k.t, "addr", addr)
	}
	for k := range n.failed {
		if !ports[k] {
			delete(n.failed, k) // no longer wanted: log it again if it is wanted and fails again
		}
	}
	n.storeStates(ports)
	n.log.Debug("proxy config stored", "generation", s.Generation, "listeners", len(n.listeners))
}

// storeStates publishes the state of every wanted listener. Called by the
// run goroutine only.
func (n *proxyNode) storeStates(ports map[listenKey]bool) {
	states := make([]proxyListener, 0, len(ports))
	for k := range ports {
		_, open := n.listeners[k]
		states = append(states, proxyListener{Transport: k.t.String(), Port: k.port, Open: open, Error: n.failed[k]})
	}
	slices.SortFunc(states, func(a, b proxyListener) int {
		return cmp.Or(cmp.Compare(a.Transport, b.Transport), cmp.Compare(a.Port, b.Port))
	})
	n.states.Store(&states)
}

// listenerStates returns the listeners the last applied snapshot wants,
// sorted by transport and port (nil before the first snapshot). It is
// safe for concurrent use; callers must not modify the slice.
func (n *proxyNode) listenerStates() []proxyListener {
	if p := n.states.Load(); p != nil {
		return *p
	}
	return nil
}

// build returns the proxy config of s and the listeners its apps need.
// The Table answers from s alone: NotServed unless the destination is
// served by an active Spectrum binding under an announced prefix (or is a
// dynamic app's address in the anycast pool, which the edge always
// announces); then the app on that address, transport and port, else
// NoApp. The Firewall applies the zone's, then the account's IP access
// rules of s (whitelist allows; block and every challenge refuse).
func (n *proxyNode) build(s *config.Snapshot) (*proxy.Config, map[listenKey]bool) {
	byIP := map[netip.Addr][]*proxy.App{}
	pooled := map[netip.Addr]bool{} // dynamic apps' addresses inside the pool
	account := map[*proxy.App]string{}
	ports := map[listenKey]bool{}
	for _, sa := range s.SpectrumApps() {
		app, err := proxyApp(sa)
		if err != nil {
			n.log.Error("skipping a spectrum app", "app", sa.ID, "err", err) // the API validated it; should not happen
			continue
		}
		account[app] = sa.AccountID
		for _, ip := range sa.EdgeIPs.IPs {
			byIP[ip] = append(byIP[ip], app)
			if sa.EdgeIPs.Type == config.EdgeIPsDynamic && n.inPool(ip) {
				pooled[ip] = true
			}
		}
		lo, hi := app.EdgePortLow, max(app.EdgePortHigh, app.EdgePortLow)
		if int(hi)-int(lo)+1 > maxListenPorts {
			if n.capped[sa.ID] != sa.Protocol {
				n.capped[sa.ID] = sa.Protocol
				n.log.Warn("spectrum app port range too large; listening on its first ports only",
					"app", sa.ID, "protocol", sa.Protocol, "listen_ports", maxListenPorts)
			}
			hi = lo + maxListenPorts - 1
		}
		for p := int(lo); p <= int(hi); p++ {
			ports[listenKey{app.Transport, uint16(p)}] = true
		}
	}
	table := func(dst netip.Addr, t proxy.Transport, port uint16) (*proxy.App, proxy.Verdict) {
		dst = dst.Unmap()
		if !pooled[dst] {
			d, ok := s.Lookup(dst)
			if !ok || !d.Served() || d.Entry.Service != config.ServiceSpectrum {
				return nil, proxy.NotServed
			}
		}
		for _, a := range byIP[dst] {
			if a.Transport == t && port >= a.EdgePortLow && port <= max(a.EdgePortHigh, a.EdgePortLow) {
				return a, proxy.Serve
			}
		}
		return nil, proxy.NoApp
	}
	firewall := func(app *proxy.App, client netip.Addr) bool {
		m, ok := s.Access(app.ZoneID, account[app], client)
		return !ok || m.Mode == "whitelist"
	}
	return &proxy.Config{Table: proxy.TableFunc(table), Firewall: firewall}, ports
}

func (n *proxyNode) inPool(ip netip.Addr) bool {
	for _, p := range n.pool {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// proxyApp converts a Spectrum app to the proxy's App. Origins with a port
// range map edge ports by offset; the first origin's range is used for all
// (the API requires each range to match the edge range's size).
func proxyApp(sa *config.SpectrumApp) (*proxy.App, error) {
	p, err := config.ParseProtocol(sa.Protocol)
	if err != nil {
		return nil, err
	}
	a := &proxy.App{
		ID: sa.ID, ZoneID: sa.ZoneID,
		EdgePortLow: p.Ports.Low, EdgePortHigh: p.Ports.High,
		IPFirewall: sa.IPFirewall,
	}
	switch p.Transport {
	case config.TransportTCP:
		a.Transport = proxy.TCP
	case config.TransportUDP:
		a.Transport = proxy.UDP
	}
	for _, u := range sa.OriginDirect {
		o, err := config.ParseOrigin(u)
		if err != nil {
			return nil, err
		}
		a.Origins = append(a.Origins, netip.AddrPortFrom(o.Addr, o.Ports.Low))
		if o.Ports.IsRange() && a.OriginPortLow == 0 {
			a.OriginPortLow, a.OriginPortHigh = o.Ports.Low, o.Ports.High
		}
	}
	if o := sa.OriginDNS; o != nil {
		a.OriginDNS = &proxy.OriginDNS{Name: o.Name, Type: o.Type, TTL: time.Duration(o.TTL) * time.Second}
		if r := sa.OriginPort; r != nil {
			a.OriginPortLow, a.OriginPortHigh = r.Low, r.High
		}
	}
	switch sa.ProxyProtocol {
	case config.ProxyProtocolV1:
		a.ProxyProtocol = proxy.ProxyV1
	case config.ProxyProtocolV2:
		a.ProxyProtocol = proxy.ProxyV2
	case config.ProxyProtocolSimple:
		a.ProxyProtocol = proxy.ProxySimple
	}
	return a, nil
}

// close stops following snapshots, closes every listener and waits for
// established connections until ctx ends. It may be called more than once.
func (n *proxyNode) close(ctx context.Context) error {
	var err error
	n.closeOnce.Do(func() {
		n.stop()
		<-n.done
		err = n.p.Shutdown(ctx)
	})
	return err
}
