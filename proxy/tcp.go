package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// tcpConn is one proxied TCP connection. client and origin are bare
// *net.TCPConn so io.Copy between them splices.
type tcpConn struct {
	client, origin *net.TCPConn // origin is set under Proxy.mu
	last           atomic.Int64 // unix nanos of the last byte moved
	eofs           atomic.Int32 // directions that ended with EOF
	abortOnce      sync.Once
}

// ServeTCP accepts connections on ln and proxies them until ctx ends or
// Shutdown, then returns ErrClosed (or nil when ctx ended). Other accept
// errors are returned. ln is closed on return.
func (p *Proxy) ServeTCP(ctx context.Context, ln *net.TCPListener) error {
	if !p.track(ln) {
		ln.Close()
		return ErrClosed
	}
	defer p.untrack(ln)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var backoff time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return ErrClosed
			}
			if isTemporary(err) { // EMFILE and friends: back off, as net/http does
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.m.acceptErrors.Inc()
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accepting on %q: %w", ln.Addr(), err)
		}
		backoff = 0
		tc := &tcpConn{client: c}
		p.mu.Lock()
		if p.closing {
			p.mu.Unlock()
			c.Close()
			return ErrClosed
		}
		p.conns[tc] = struct{}{}
		p.connWG.Add(1)
		p.mu.Unlock()
		p.goWork(func() { p.handleTCP(tc) })
	}
}

func isTemporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// reset closes c with SO_LINGER 0, so the peer sees RST.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

func addrPort(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (p *Proxy) handleTCP(tc *tcpConn) {
	defer p.connWG.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, tc)
		p.mu.Unlock()
	}()
	client := tc.client
	edge, src := addrPort(client.LocalAddr()), addrPort(client.RemoteAddr())
	cfg := p.cfg.Load()
	var app *App
	verdict := NotServed
	if cfg.Table != nil {
		app, verdict = cfg.Table.Route(edge.Addr(), TCP, edge.Port())
	}
	switch {
	case verdict == NotServed:
		p.m.refused[refusedNotServed].Inc()
		reset(client)
		return
	case verdict == NoApp || app == nil:
		p.m.refused[refusedNoApp].Inc()
		client.Close()
		return
	}
	am := p.m.app(app)
	if app.IPFirewall && cfg.Firewall != nil && !cfg.Firewall(app, src.Addr()) {
		am.firewall.Inc()
		p.log.Debug("firewall refused", "app", app.ID, "remote_addr", src)
		reset(client)
		return
	}
	am.conns.Inc()
	p.m.active.Inc()
	defer p.m.active.Dec()

	origin, err := p.dialOrigin(app, edge.Port(), am)
	if err != nil {
		p.log.Debug("dialing origin", "app", app.ID, "err", err)
		reset(client)
		return
	}
	p.mu.Lock()
	tc.origin = origin
	p.mu.Unlock()
	if pp := app.ProxyProtocol; pp == ProxyV1 || pp == ProxyV2 {
		if err := writeHeader(client, origin, pp, src, edge, am); err != nil {
			reset(origin)
			reset(client)
			return
		}
	}
	p.pipe(tc, am)
}

// writeHeader writes the PROXY header to the origin before any payload. If
// the client has already sent data (the usual case by the time the origin
// is connected) it goes out in the same write; otherwise the header goes
// alone, so server-speaks-first protocols are not held up.
func writeHeader(client, origin *net.TCPConn, pp ProxyProtocol, src, edge netip.AddrPort, am *appMetrics) error {
	buf := smallBufs.Get().(*[16 << 10]byte)
	defer smallBufs.Put(buf)
	n := len(AppendProxyHeader(buf[:0], pp, TCP, src, edge))
	rc, err := client.SyscallConn()
	if err != nil {
		return err
	}
	var (
		got  int
		rerr error
	)
	err = rc.Read(func(fd uintptr) bool { // one non-blocking attempt, never waits
		r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[n])), uintptr(len(buf)-n))
		switch {
		case e == 0:
			got = int(r) // 0 is EOF, which stays readable for the pump
		case e != unix.EAGAIN && e != unix.EINTR:
			rerr = e
		}
		return true
	})
	if err = errors.Join(err, rerr); err != nil {
		return err
	}
	if err := writeAll(origin, buf[:n+got]); err != nil {
		return err
	}
	if got > 0 {
		am.toOrigin.Add(float64(got))
	}
	return nil
}

// dialOrigin tries the app's origins in order.
func (p *Proxy) dialOrigin(app *App, edgePort uint16, am *appMetrics) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: p.opts.dialTimeout(), KeepAlive: p.opts.keepAlive(), ControlContext: preconnect}
	origins := app.Origins
	if app.OriginDNS != nil {
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.dialTimeout())
		addrs, err := p.res.resolve(ctx, app.OriginDNS)
		cancel()
		if err != nil {
			am.originFail.Inc()
			return nil, err
		}
		origins = addrs
	}
	var errs []error
	for _, o := range origins {
		dst := netip.AddrPortFrom(o.Addr(), app.originPort(edgePort, o.Port()))
		// Dial, not DialTCP: DialTCP with a zero local AddrPort binds first.
		c, err := d.Dial("tcp", dst.String())
		if err != nil {
			am.originFail.Inc()
			errs = append(errs, err)
			continue
		}
		return c.(*net.TCPConn), nil
	}
	if len(errs) == 0 {
		am.originFail.Inc()
		return nil, fmt.Errorf("dialing origin of app %q: no origin", app.ID)
	}
	return nil, fmt.Errorf("dialing origin of app %q: %w", app.ID, errors.Join(errs...))
}

// preconnect, the Dialer's control hook, starts the connect itself with a
// raw connect(2). On loopback (and wherever the handshake completes inside
// the syscall) the socket is established when that returns EINPROGRESS, so
// net's own connect then returns 0 at once: no netpoller wait (a goroutine
// park and wake-up), no SO_ERROR getsockopt, no deadline timers. While the
// handshake is still in flight net's connect gets EALREADY and waits as
// usual, with the Dialer's timeout; a refused connect fails there too.
func preconnect(_ context.Context, network, address string, rc syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || ap.Addr().Zone() != "" {
		return nil // net connects by itself
	}
	var (
		sa    unsafe.Pointer
		salen uintptr
	)
	switch {
	case network == "tcp4" && ap.Addr().Unmap().Is4():
		sa4 := &unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ap.Addr().Unmap().As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:], ap.Port())
		sa, salen = unsafe.Pointer(sa4), unix.SizeofSockaddrInet4
	case network == "tcp6":
		sa6 := &unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa6.Port))[:], ap.Port())
		sa, salen = unsafe.Pointer(sa6), unix.SizeofSockaddrInet6
	default:
		return nil
	}
	var e syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, fd, uintptr(sa), salen)
	}); err != nil {
		return err
	}
	switch e {
	case 0, unix.EINPROGRESS, unix.EINTR: // EINTR: the connect goes on
		return nil
	}
	return os.NewSyscallError("connect", e)
}

// writeAll writes b to c with raw send(2) calls (MSG_NOSIGNAL), waiting in
// the netpoller while the send buffer is full. Unlike c.Write it does not
// enter the scheduler's syscall state: on loopback a send runs the peer's
// receive path inside the syscall, long enough for sysmon to hand the P to
// another thread, which costs a wake-up and context switches per write.
func writeAll(c *net.TCPConn, b []byte) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	_, err = rawWrite(rc, b)
	return err
}

// rawWrite writes b through rc (see writeAll) and returns how much of it
// was written.
func rawWrite(rc syscall.RawConn, b []byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n),
				unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				n += int(r)
			case unix.EINTR:
			case unix.EAGAIN:
				return false
			default:
				werr = e
				return true
			}
		}
		return true
	})
	return n, errors.Join(err, werr)
}

// closeWrite is c.CloseWrite with a raw shutdown(2) (see writeAll).
func closeWrite(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { unix.RawSyscall(unix.SYS_SHUTDOWN, fd, unix.SHUT_WR, 0) })
}

var errIdle = errors.New("idle timeout")

// pipe moves bytes both ways until both directions end. One direction runs
// in this goroutine, the other in a second one. EOF on one side becomes
// CloseWrite on the other (half-close); an error on either side (reset,
// broken pipe) resets both; an idle connection is closed.
func (p *Proxy) pipe(tc *tcpConn, am *appMetrics) {
	idle := p.opts.idleTimeout()
	tc.last.Store(time.Now().UnixNano())
	dl := time.Now().Add(idle)
	tc.client.SetReadDeadline(dl)
	tc.origin.SetReadDeadline(dl)
	done := make(chan struct{})
	go func() { // a plain goroutine: pump needs no more than the starting stack
		p.pump(tc, tc.origin, tc.client, am.toOrigin, idle)
		close(done)
	}()
	p.pump(tc, tc.client, tc.origin, am.toClient, idle)
	<-done
	tc.client.Close()
	tc.origin.Close()
}

func (tc *tcpConn) abort(err error) {
	tc.abortOnce.Do(func() {
		if errors.Is(err, errIdle) {
			tc.client.Close()
			tc.origin.Close()
			return
		}
		reset(tc.client)
		reset(tc.origin)
	})
}

// testHookCopy, when set by a test, sees what every splice copy is handed.
var testHookCopy atomic.Pointer[func(dst io.Writer, src io.Reader)]

// spliceAfter is how many bytes a direction moves with plain read/write
// before it switches to splice. Short exchanges (requests, handshakes) cost
// fewer syscalls without a pipe (read+write against ioctl+2 splices, and
// EOF shows up in the same read); bulk transfers splice.
const spliceAfter = 64 << 10

// smallBufs holds the read/write buffers, taken only while data is queued.
var smallBufs = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// pump copies src to dst. It holds no buffer and no splice pipe while src
// is idle: it waits for readability through the raw conn. The first
// spliceAfter bytes move with read/write through a pooled buffer. After
// that it asks the kernel how many bytes are queued (a MSG_PEEK|MSG_TRUNC
// recv, which copies nothing) and splices
// exactly those with io.Copy over an *io.LimitedReader (net's spliceFrom
// unwraps it), so the pooled pipe goes back as soon as the queue drains.
func (p *Proxy) pump(tc *tcpConn, dst, src *net.TCPConn, ctr prometheus.Counter, idle time.Duration) {
	rc, err := src.SyscallConn()
	if err != nil {
		tc.abort(err)
		return
	}
	dstRC, err := dst.SyscallConn()
	if err != nil {
		tc.abort(err)
		return
	}
	var (
		moved  int64
		queued int
		rerr   error
		buf    *[16 << 10]byte
	)
	// Raw syscalls below: none of them blocks.
	small := func(fd uintptr) bool {
		if buf == nil {
			buf = smallBufs.Get().(*[16 << 10]byte)
		}
		n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		switch {
		case e == unix.EAGAIN || e == unix.EINTR:
			smallBufs.Put(buf)
			buf = nil
			return false
		case e != 0:
			queued, rerr = 0, e
		default:
			queued, rerr = int(n), nil // 0: EOF
		}
		return true
	}
	large := func(fd uintptr) bool {
		// MSG_PEEK|MSG_TRUNC on TCP counts the queued bytes without copying
		// them (same answer as SIOCINQ), and tells EOF (0), not yet
		// readable (EAGAIN) and errors apart in the same call.
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, 0, 1<<30,
			unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EAGAIN || e == unix.EINTR:
			return false
		case e != 0:
			queued, rerr = 0, e
		default:
			queued, rerr = int(n), nil
		}
		return true
	}
	lr := &io.LimitedReader{R: src}
	for {
		splicing := moved >= spliceAfter
		var err error
		if splicing {
			err = rc.Read(large)
		} else {
			err = rc.Read(small)
		}
		if err != nil {
			if buf != nil {
				smallBufs.Put(buf)
				buf = nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				last := time.Unix(0, tc.last.Load())
				if time.Since(last) < idle {
					src.SetReadDeadline(last.Add(idle))
					continue
				}
				tc.abort(errIdle)
				return
			}
			tc.abort(err)
			return
		}
		if rerr != nil || queued == 0 {
			if buf != nil {
				smallBufs.Put(buf)
				buf = nil
			}
			if rerr != nil {
				tc.abort(rerr)
			} else if tc.eofs.Add(1) == 1 {
				// Half-close. The second direction to end skips it: pipe
				// closes both sockets right away, and close sends the FIN.
				closeWrite(dst)
			}
			return
		}
		var n int64
		if splicing {
			lr.N = int64(queued)
			if h := testHookCopy.Load(); h != nil {
				(*h)(dst, lr)
			}
			n, err = io.Copy(dst, lr)
		} else {
			var w int
			w, err = rawWrite(dstRC, buf[:queued])
			n = int64(w)
			smallBufs.Put(buf)
			buf = nil
		}
		if n > 0 {
			moved += n
			ctr.Add(float64(n))
			tc.last.Store(time.Now().UnixNano())
		}
		if err != nil {
			tc.abort(err)
			return
		}
	}
}
