package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	udpBatchIn      = 32      // datagrams per recvmmsg from clients
	udpBatchReply   = 16      // datagrams per recvmmsg from an origin
	udpSocketBuffer = 4 << 20 // SO_RCVBUF/SO_SNDBUF asked for (capped by net.core.[rw]mem_max)
)

type flowKey struct{ client, edge netip.AddrPort }

// udpServer relays one UDP socket (usually a wildcard one) to origins.
type udpServer struct {
	p      *Proxy
	conn   *net.UDPConn
	rc     syscall.RawConn
	v6     bool
	port   uint16
	replyP sync.Pool // *batch for origin replies, taken only while reading

	mu     sync.Mutex
	closed bool
	flows  map[flowKey]*flow

	wg sync.WaitGroup // reply goroutines
}

// flow is one client/edge pair with its connected upstream socket.
type flow struct {
	s         *udpServer
	key       flowKey
	app       *App
	am        *appMetrics
	up        *net.UDPConn
	urc       syscall.RawConn
	v2Pending bool         // PROXY v2 still to send; read loop only
	last      atomic.Int64 // unix nanos of the last datagram either way
	name      unix.RawSockaddrInet6
	namelen   uint32
	oob       [64]byte
	ooblen    int
}

// ServeUDP relays datagrams received on c until ctx ends or Shutdown, then
// returns nil or ErrClosed. c may be a wildcard socket: the destination of
// each datagram is learnt from IP_PKTINFO/IPV6_PKTINFO (enabled here) and
// replies leave from it. Flows are keyed by (client, edge address) and get
// a connected upstream socket each; the table is bounded (MaxUDPFlows) and
// flows expire after UDPIdleTimeout. c is closed on return.
func (p *Proxy) ServeUDP(ctx context.Context, c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return fmt.Errorf("serving udp %q: %w", c.LocalAddr(), err)
	}
	s := &udpServer{p: p, conn: c, rc: rc, flows: map[flowKey]*flow{}, port: c.LocalAddr().(*net.UDPAddr).AddrPort().Port()}
	size := p.opts.udpBufferSize()
	s.replyP.New = func() any { return newBatch(udpBatchReply, size) }
	var serr error
	err = rc.Control(func(fd uintptr) {
		dom, e := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if e != nil {
			serr = e
			return
		}
		s.v6 = dom == unix.AF_INET6
		// Best effort: room for bursts while the relay is scheduled out.
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, udpSocketBuffer)
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, udpSocketBuffer)
		if s.v6 {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_RECVPKTINFO, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_PKTINFO, 1)
		}
	})
	if err = errors.Join(err, serr); err != nil {
		c.Close()
		return fmt.Errorf("enabling packet info on %q: %w", c.LocalAddr(), err)
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		c.Close()
		return ErrClosed
	}
	p.udps[s] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.udps, s)
		p.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	sweepDone := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Go(func() { s.sweep(sweepDone) })

	err = s.readLoop()
	s.close()
	close(sweepDone)
	sweeper.Wait()
	s.wg.Wait()
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil && !errors.Is(err, net.ErrClosed):
		return fmt.Errorf("reading udp on %q: %w", c.LocalAddr(), err)
	}
	return ErrClosed
}

// close stops the server and every flow.
func (s *udpServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.conn.Close()
	for _, f := range s.flows {
		f.up.Close()
	}
}

func (s *udpServer) sweep(done <-chan struct{}) {
	idle := s.p.opts.udpIdle()
	t := time.NewTicker(min(max(idle/4, 10*time.Millisecond), 5*time.Second))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			cut := now.Add(-idle).UnixNano()
			s.mu.Lock()
			for k, f := range s.flows {
				if f.last.Load() < cut {
					delete(s.flows, k)
					f.up.Close() // its reply loop exits and counts it down
				}
			}
			s.mu.Unlock()
		}
	}
}

func (s *udpServer) readLoop() error {
	b := newBatch(udpBatchIn, s.p.opts.udpBufferSize())
	out := make([]unix.Mmsghdr, udpBatchIn)
	outIov := make([]unix.Iovec, udpBatchIn)
	outFlow := make([]*flow, udpBatchIn)
	var hdr [MaxProxyHeaderLen]byte
	for {
		b.prepRecv(true)
		n, err := recvmmsg(s.rc, b.msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ENETUNREACH) {
				continue
			}
			return err
		}
		now := time.Now().UnixNano()
		k := 0
		var (
			prev    *flow // consecutive datagrams of one flow skip the lookup
			prevKey flowKey
		)
		for i := range n {
			m := &b.msgs[i]
			if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
				s.p.m.refused[refusedTruncated].Inc()
				continue
			}
			dst, ok := pktinfoDst(b.oob[i][:m.Hdr.Controllen])
			if !ok {
				continue
			}
			key := flowKey{sockaddrAddrPort(&b.names[i]), netip.AddrPortFrom(dst, s.port)}
			f := prev
			if f == nil || key != prevKey {
				if f = s.flow(key.client, key.edge); f == nil {
					continue
				}
				f.last.Store(now)
				prev, prevKey = f, key
			}
			ln := int(m.Len)
			f.am.toOrigin.Add(float64(ln))
			buf := b.bufs[i]
			start := udpHeadroom
			switch f.app.ProxyProtocol {
			case ProxySimple:
				start -= SPPLen
				PutSPP(buf[start:udpHeadroom], f.key.client, f.key.edge)
			case ProxyV1, ProxyV2:
				if f.v2Pending {
					h := AppendProxyHeader(hdr[:0], ProxyV2, UDP, f.key.client, f.key.edge)
					start -= len(h)
					copy(buf[start:], h)
					f.v2Pending = false
				}
			}
			outIov[k].Base = &buf[start]
			outIov[k].SetLen(udpHeadroom + ln - start)
			out[k].Hdr = unix.Msghdr{Iov: &outIov[k]}
			out[k].Hdr.SetIovlen(1)
			outFlow[k] = f
			k++
		}
		for i := 0; i < k; {
			j := i + 1
			for j < k && outFlow[j] == outFlow[i] {
				j++
			}
			sendmmsg(outFlow[i].urc, out[i:j]) // a closed or refused flow drops these
			i = j
		}
		clear(outFlow[:k])
	}
}

// flow returns the live flow for (client, edge), creating it when the table
// routes it to an app and the firewall allows it; nil drops the datagram.
func (s *udpServer) flow(client, edge netip.AddrPort) *flow {
	key := flowKey{client, edge}
	s.mu.Lock()
	f := s.flows[key]
	s.mu.Unlock()
	if f != nil {
		return f
	}
	p := s.p
	if p.flows.Load() >= int64(p.opts.maxUDPFlows()) {
		p.m.refused[refusedFlowTableFull].Inc()
		return nil
	}
	cfg := p.cfg.Load()
	var app *App
	verdict := NotServed
	if cfg.Table != nil {
		app, verdict = cfg.Table.Route(edge.Addr(), UDP, edge.Port())
	}
	switch {
	case verdict == NotServed:
		p.m.refused[refusedNotServed].Inc()
		return nil
	case verdict == NoApp || app == nil:
		p.m.refused[refusedNoApp].Inc()
		return nil
	}
	am := p.m.app(app)
	if app.IPFirewall && cfg.Firewall != nil && !cfg.Firewall(app, client.Addr()) {
		am.firewall.Inc()
		return nil
	}
	origins := app.Origins
	if app.OriginDNS != nil {
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.dialTimeout())
		addrs, err := p.res.resolve(ctx, app.OriginDNS)
		cancel()
		if err != nil {
			am.originFail.Inc()
			p.log.Debug("resolving udp origin", "app", app.ID, "err", err)
			return nil
		}
		origins = addrs
	}
	if len(origins) == 0 {
		am.originFail.Inc()
		return nil
	}
	o := origins[0]
	dst := netip.AddrPortFrom(o.Addr(), app.originPort(edge.Port(), o.Port()))
	var d net.Dialer
	up, err := d.DialUDP(context.Background(), "udp", netip.AddrPort{}, dst)
	if err != nil {
		am.originFail.Inc()
		p.log.Debug("dialing udp origin", "app", app.ID, "origin", dst, "err", err)
		return nil
	}
	up.SetReadBuffer(1 << 20)
	urc, err := up.SyscallConn()
	if err != nil {
		up.Close()
		return nil
	}
	f = &flow{s: s, key: key, app: app, am: am, up: up, urc: urc,
		v2Pending: app.ProxyProtocol == ProxyV2 || app.ProxyProtocol == ProxyV1}
	f.last.Store(time.Now().UnixNano())
	f.namelen = putSockaddr(&f.name, client, s.v6)
	f.ooblen = putPktinfo(f.oob[:], edge.Addr(), s.v6)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		up.Close()
		return nil
	}
	s.flows[key] = f
	p.flows.Add(1)
	s.wg.Add(1)
	s.mu.Unlock()
	p.m.activeFlows.Inc()
	am.udpFlows.Inc()
	go f.replyLoop()
	return f
}

// replyLoop relays the origin's datagrams back to the client, from the
// edge address, until the flow's socket is closed (idle expiry, shutdown).
// With SPP, each reply must carry a header naming this flow's client; it is
// stripped, and replies without one are dropped.
func (f *flow) replyLoop() {
	s := f.s
	defer func() {
		s.mu.Lock()
		if s.flows[f.key] == f {
			delete(s.flows, f.key)
		}
		s.mu.Unlock()
		f.up.Close()
		s.p.flows.Add(-1)
		s.p.m.activeFlows.Dec()
		s.wg.Done()
	}()
	out := make([]unix.Mmsghdr, udpBatchReply)
	outIov := make([]unix.Iovec, udpBatchReply)
	var (
		b    *batch
		n    int
		serr syscall.Errno
	)
	read := func(fd uintptr) bool {
		if b == nil {
			b = s.replyP.Get().(*batch)
			b.prepRecv(false)
		}
		n, serr = recvmmsgFd(fd, b.msgs)
		if serr == unix.EAGAIN || serr == unix.EINTR {
			s.replyP.Put(b) // hold no buffers while idle
			b = nil
			return false
		}
		return true
	}
	for {
		err := f.urc.Read(read)
		if err != nil {
			if b != nil {
				s.replyP.Put(b)
			}
			return
		}
		if serr != 0 { // e.g. ECONNREFUSED: the origin port is closed
			s.replyP.Put(b)
			b = nil
			continue
		}
		k := 0
		for i := range n {
			m := &b.msgs[i]
			if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
				s.p.m.refused[refusedTruncated].Inc()
				continue
			}
			data := b.bufs[i][udpHeadroom : udpHeadroom+int(m.Len)]
			if f.app.ProxyProtocol == ProxySimple {
				c, _, payload, err := ParseSPP(data)
				if err != nil || c != f.key.client {
					continue
				}
				data = payload
			}
			f.am.toClient.Add(float64(len(data)))
			if len(data) == 0 {
				outIov[k].Base = nil
			} else {
				outIov[k].Base = &data[0]
			}
			outIov[k].SetLen(len(data))
			h := &out[k].Hdr
			*h = unix.Msghdr{Name: sockaddrPtr(&f.name), Namelen: f.namelen, Iov: &outIov[k], Control: &f.oob[0]}
			h.SetIovlen(1)
			h.SetControllen(f.ooblen)
			k++
		}
		if k > 0 {
			f.last.Store(time.Now().UnixNano())
			sendmmsg(s.rc, out[:k])
		}
		s.replyP.Put(b)
		b = nil
	}
}
