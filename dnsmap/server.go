package dnsmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrServerClosed is returned by the Serve methods after Shutdown.
var ErrServerClosed = errors.New("dnsmap: server closed")

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives lifecycle messages (never one per query above
	// Debug). Nil discards.
	Logger *slog.Logger
	// Registerer receives the server's counters. Nil: counters are kept
	// but not registered.
	Registerer prometheus.Registerer
	// UDPSize is the EDNS payload size advertised in every OPT and the
	// largest UDP response sent (clients asking for less get less, never
	// under 512). 0 means DefaultUDPSize (1232); at most 4096.
	UDPSize int
	// Workers is the number of goroutines reading each UDP socket. 0 means
	// GOMAXPROCS.
	Workers int
	// Batch is the number of datagrams read and written per recvmmsg and
	// sendmmsg call. 0 means 32.
	Batch int
	// TCPIdleTimeout closes a TCP connection that sent no complete query
	// for this long. 0 means 10 s (Knot's tcp-idle-timeout).
	TCPIdleTimeout time.Duration
	// TCPMaxConns bounds concurrent TCP connections per server; further
	// connections are closed at once. 0 means 1024.
	TCPMaxConns int
}

// Server answers DNS queries over UDP and TCP from the Set last stored.
// Create it with New; it is safe for concurrent use, and any number of
// sockets may be served at once. A Server must not be copied.
type Server struct {
	opts Options
	log  *slog.Logger
	m    *metrics
	cur  atomic.Pointer[bound]

	closing atomic.Bool
	wg      sync.WaitGroup
	tcpSem  chan struct{}

	mu    sync.Mutex // guards the fields below and Store's counter bookkeeping
	udp   map[*net.UDPConn]struct{}
	lns   map[net.Listener]struct{}
	conns map[net.Conn]struct{}
	zones map[string]prometheus.Counter // per-zone counters by zone name
}

// bound is a Set with the per-zone counters of its zones, by zone index.
type bound struct {
	set   *Set
	zones []prometheus.Counter
}

// New returns a Server answering REFUSED to everything until Store.
func New(opts Options) (*Server, error) {
	if opts.UDPSize == 0 {
		opts.UDPSize = DefaultUDPSize
	}
	if opts.UDPSize < 512 || opts.UDPSize > 4096 {
		return nil, fmt.Errorf("checking UDP size %d: want 512 to 4096", opts.UDPSize)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	if opts.TCPIdleTimeout <= 0 {
		opts.TCPIdleTimeout = 10 * time.Second
	}
	if opts.TCPMaxConns <= 0 {
		opts.TCPMaxConns = 1024
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts:   opts,
		log:    log.With("component", "dns"),
		m:      newMetrics(),
		tcpSem: make(chan struct{}, opts.TCPMaxConns),
		udp:    make(map[*net.UDPConn]struct{}),
		lns:    make(map[net.Listener]struct{}),
		conns:  make(map[net.Conn]struct{}),
		zones:  make(map[string]prometheus.Counter),
	}
	if opts.Registerer != nil {
		if err := s.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("registering dns metrics: %w", err)
		}
	}
	s.cur.Store(&bound{set: &Set{}})
	return s, nil
}

// Store publishes set: every query read after Store returns is answered
// from it, queries already being answered finish with the previous Set,
// and none is dropped. A nil set answers REFUSED to everything.
func (s *Server) Store(set *Set) {
	if set == nil {
		set = &Set{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &bound{set: set, zones: make([]prometheus.Counter, len(set.zones))}
	keep := make(map[string]bool, len(set.zones))
	for i, z := range set.zones {
		c, ok := s.zones[z.name]
		if !ok {
			c = s.m.zoneQueries.WithLabelValues(z.name)
			s.zones[z.name] = c
		}
		b.zones[i] = c
		keep[z.name] = true
	}
	for name := range s.zones {
		if !keep[name] {
			s.m.zoneQueries.DeleteLabelValues(name)
			delete(s.zones, name)
		}
	}
	s.cur.Store(b)
	s.log.Debug("stored answer set", "zones", len(set.zones), "names", len(set.names))
}

// Set returns the Set being served.
func (s *Server) Set() *Set { return s.cur.Load().set }

// ServeUDP answers queries arriving on conn until ctx is done or Shutdown
// is called, then returns nil; after Shutdown it returns ErrServerClosed
// at once. It does not close conn. Options.Workers goroutines read conn, each a
// batch of datagrams per system call.
func (s *Server) ServeUDP(ctx context.Context, conn *net.UDPConn) error {
	if !s.track(func() { s.udp[conn] = struct{}{} }) {
		return ErrServerClosed
	}
	defer s.untrack(func() { delete(s.udp, conn) })
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	s.log.Info("serving udp", "addr", conn.LocalAddr().String(), "workers", s.opts.Workers)
	errs := make(chan error, s.opts.Workers)
	for range s.opts.Workers {
		go func() { errs <- s.udpWorker(ctx, conn) }()
	}
	var first error
	for range s.opts.Workers {
		if err := <-errs; err != nil && first == nil {
			first = err
			conn.SetReadDeadline(time.Unix(1, 0)) // stop the other workers
		}
	}
	return first
}

// stopping reports whether a read error means "stop serving".
func (s *Server) stopping(ctx context.Context) bool {
	return s.closing.Load() || ctx.Err() != nil
}

// ServeTCP accepts connections on ln until ctx is done or Shutdown is
// called, then closes ln and returns nil (ErrServerClosed at once after
// Shutdown). Each connection is served in order with
// pipelining: queries are read as they arrive and answered in the order
// received, with no limit on queries per connection.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	if !s.track(func() { s.lns[ln] = struct{}{} }) {
		return ErrServerClosed
	}
	defer s.untrack(func() { delete(s.lns, ln) })
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	s.log.Info("serving tcp", "addr", ln.Addr().String())
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.stopping(ctx) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accepting tcp on %q: %w", ln.Addr().String(), err)
		}
		delay = 0
		select {
		case s.tcpSem <- struct{}{}:
		default:
			s.m.tcpRejected.Inc()
			c.Close()
			continue
		}
		if !s.track(func() { s.conns[c] = struct{}{} }) {
			<-s.tcpSem
			c.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.untrack(func() { delete(s.conns, c) })
			defer func() { <-s.tcpSem }()
			defer c.Close()
			s.serveConn(ctx, c)
		}()
	}
}

// track runs add under the lock and counts a running goroutine, unless
// the server is closing.
func (s *Server) track(add func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	add()
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(del func()) {
	s.mu.Lock()
	del()
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops every Serve call: UDP reads end, TCP listeners close, and
// TCP connections end after writing the answers to queries already read.
// It waits for all of them until ctx is done, then closes the remaining
// connections and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	past := time.Unix(1, 0)
	for c := range s.udp {
		c.SetReadDeadline(past)
	}
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.SetReadDeadline(past)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}
