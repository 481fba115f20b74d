package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Proxy is the Spectrum L4 proxy engine. Create it with New; it serves
// nothing until Store is given a Config. A Proxy is safe for concurrent use;
// it must not be copied.
type Proxy struct {
	_    [0]sync.Mutex
	opts Options
	log  *slog.Logger
	cfg  atomic.Pointer[Config]
	m    *metrics
	res  *resolver

	mu        sync.Mutex
	closing   bool
	listeners map[io.Closer]struct{}
	conns     map[*tcpConn]struct{}
	udps      map[*udpServer]struct{}

	serveWG sync.WaitGroup // Listen's serve loops
	connWG  sync.WaitGroup // TCP connection handlers
	flows   atomic.Int64   // live UDP flows, all servers

	work     chan func()   // idle workers (see goWork) receive here
	idle     atomic.Int32  // idle workers
	quit     chan struct{} // closed by Shutdown: idle workers exit
	quitOnce sync.Once
}

// ErrClosed is returned by Serve and Listen after Shutdown.
var ErrClosed = errors.New("proxy: closed")

// New returns a Proxy serving an empty Config.
func New(opts Options) (*Proxy, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	p := &Proxy{
		opts:      opts,
		log:       log.With("component", "proxy"),
		m:         m,
		res:       newResolver(opts.Resolver),
		listeners: map[io.Closer]struct{}{},
		conns:     map[*tcpConn]struct{}{},
		udps:      map[*udpServer]struct{}{},
		work:      make(chan func()),
		quit:      make(chan struct{}),
	}
	p.cfg.Store(&Config{})
	return p, nil
}

// Store publishes cfg; new connections and new UDP flows use it, while
// established connections and flows keep the App they started with. cfg
// must not be modified afterwards. A nil cfg serves nothing.
func (p *Proxy) Store(cfg *Config) {
	if cfg == nil {
		cfg = &Config{}
	}
	p.cfg.Store(cfg)
}

// Load returns the Config in use.
func (p *Proxy) Load() *Config { return p.cfg.Load() }

func (p *Proxy) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.listeners[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c io.Closer) {
	p.mu.Lock()
	delete(p.listeners, c)
	p.mu.Unlock()
}

// ListenTCP opens a TCP listener on addr with IP_FREEBIND set, so a
// specific address inside an AnyIP prefix can be bound (IPv6 needs it). A
// wildcard addr ([::]) accepts IPv4 too. Accepted connections get TCP
// keepalive with period keepAlive when it is positive, none otherwise.
func ListenTCP(ctx context.Context, addr netip.AddrPort, keepAlive time.Duration) (*net.TCPListener, error) {
	if keepAlive <= 0 {
		keepAlive = -1
	}
	lc := net.ListenConfig{KeepAlive: keepAlive, Control: freebind}
	ln, err := lc.Listen(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("listening on tcp %q: %w", addr, err)
	}
	return ln.(*net.TCPListener), nil
}

// ListenUDP opens a UDP socket on addr with IP_FREEBIND and packet info
// (IP_PKTINFO / IPV6_RECVPKTINFO) enabled, as ServeUDP needs.
func ListenUDP(ctx context.Context, addr netip.AddrPort) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: freebind}
	c, err := lc.ListenPacket(ctx, "udp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("listening on udp %q: %w", addr, err)
	}
	return c.(*net.UDPConn), nil
}

func freebind(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Listen opens a wildcard listener for transport t on port (0 picks one),
// dual-stack [::] when IPv6 is available and 0.0.0.0 otherwise, and serves
// it until ctx ends or Shutdown. It returns the bound address. Serve errors
// are logged.
func (p *Proxy) Listen(ctx context.Context, t Transport, port uint16) (netip.AddrPort, error) {
	addrs := []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Unspecified(), port), netip.AddrPortFrom(netip.IPv4Unspecified(), port)}
	var errs []error
	for _, a := range addrs {
		switch t {
		case TCP:
			ln, err := ListenTCP(ctx, a, p.opts.keepAlive())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			bound := ln.Addr().(*net.TCPAddr).AddrPort()
			if !p.goServe(func() {
				if err := p.ServeTCP(ctx, ln); err != nil && !errors.Is(err, ErrClosed) {
					p.log.Error("serving tcp", "addr", bound, "err", err)
				}
			}) {
				ln.Close()
				return netip.AddrPort{}, ErrClosed
			}
			return bound, nil
		case UDP:
			c, err := ListenUDP(ctx, a)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			bound := c.LocalAddr().(*net.UDPAddr).AddrPort()
			if !p.goServe(func() {
				if err := p.ServeUDP(ctx, c); err != nil && !errors.Is(err, ErrClosed) {
					p.log.Error("serving udp", "addr", bound, "err", err)
				}
			}) {
				c.Close()
				return netip.AddrPort{}, ErrClosed
			}
			return bound, nil
		default:
			return netip.AddrPort{}, fmt.Errorf("listening on port %d: unknown transport %d", port, t)
		}
	}
	return netip.AddrPort{}, errors.Join(errs...)
}

// goServe runs fn in a serve goroutine Shutdown waits for, unless Shutdown
// has begun.
func (p *Proxy) goServe(fn func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.serveWG.Add(1)
	go func() {
		defer p.serveWG.Done()
		fn()
	}()
	return true
}

// maxIdleWorkers bounds the goroutines goWork keeps waiting for work.
const maxIdleWorkers = 256

// goWork runs fn in a goroutine, reusing an idle worker when there is one.
// A fresh goroutine starts with a 2 KiB stack, and a TCP handler copies its
// stack twice on the way through net's dial path (about 6% of the proxy's
// CPU per connection); a worker keeps its grown stack for the next
// connection. Workers that find maxIdleWorkers others idle exit, and idle
// workers exit on Shutdown.
func (p *Proxy) goWork(fn func()) {
	select {
	case p.work <- fn:
	default:
		go p.worker(fn)
	}
}

func (p *Proxy) worker(fn func()) {
	for {
		fn()
		fn = nil
		if p.idle.Add(1) > maxIdleWorkers {
			p.idle.Add(-1)
			return
		}
		select {
		case fn = <-p.work:
			p.idle.Add(-1)
		case <-p.quit:
			p.idle.Add(-1)
			return
		}
	}
}

// Shutdown stops accepting (closes every listener and UDP socket the Proxy
// serves), then waits for established TCP connections to finish until ctx
// ends, when it closes the rest and returns ctx's error. UDP flows end at
// once. Serve calls return ErrClosed afterwards.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	for c := range p.listeners {
		c.Close()
	}
	udps := make([]*udpServer, 0, len(p.udps))
	for u := range p.udps {
		udps = append(udps, u)
	}
	p.mu.Unlock()
	p.quitOnce.Do(func() { close(p.quit) })
	for _, u := range udps {
		u.close()
	}
	p.serveWG.Wait()

	done := make(chan struct{})
	go func() { p.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	for c := range p.conns {
		c.client.Close()
		if c.origin != nil {
			c.origin.Close()
		}
	}
	p.mu.Unlock()
	<-done
	return ctx.Err()
}
