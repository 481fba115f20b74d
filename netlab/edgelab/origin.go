package edgelab

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// Demo origin defaults.
const (
	// originBanner is the first line the TCP origin writes.
	originBanner = "SSH-2.0-edgesim_demo_origin"
	// originHeaderTimeout bounds the wait for a PROXY header. A direct
	// client that waits for the banner before sending gets it after this.
	originHeaderTimeout = 5 * time.Second
	// originIdleTimeout closes a TCP connection without traffic either way.
	originIdleTimeout = 10 * time.Minute
	// originMaxDatagram is the UDP read buffer: larger than any UDP payload
	// (65507 bytes over IPv4, 65527 over IPv6), so nothing is truncated.
	originMaxDatagram = 64 << 10
	// originCopyBuffer is the TCP echo buffer.
	originCopyBuffer = 32 << 10
)

// Simple Proxy Protocol framing, decoded here independently of the proxy
// package so the lab checks the proxy's encoding: magic, client address,
// proxy (edge) address (16 bytes each, IPv4 v4-mapped), client port, proxy
// port, all in network order.
const (
	sppLen   = 38
	sppMagic = 0x56EC
)

// sppHeader is a decoded Simple Proxy Protocol header; addresses are
// unmapped.
type sppHeader struct {
	client, edge netip.AddrPort
}

// parseSPP decodes the Simple Proxy Protocol header at the start of b. ok
// is false when b is shorter than a header or lacks the magic; payload
// aliases b.
func parseSPP(b []byte) (h sppHeader, payload []byte, ok bool) {
	if len(b) < sppLen || binary.BigEndian.Uint16(b) != sppMagic {
		return sppHeader{}, nil, false
	}
	c := netip.AddrFrom16([16]byte(b[2:18])).Unmap()
	e := netip.AddrFrom16([16]byte(b[18:34])).Unmap()
	h.client = netip.AddrPortFrom(c, binary.BigEndian.Uint16(b[34:36]))
	h.edge = netip.AddrPortFrom(e, binary.BigEndian.Uint16(b[36:38]))
	return h, b[sppLen:], true
}

// appendUDPReply appends the demo origin's reply to datagram d from from.
// With a Simple Proxy Protocol header: the same 38 header bytes (the proxy
// matches replies to flows by them and strips them), then
// "spp: client C -> edge E: " and the payload. Without one:
// "spp: none (from F): " and d.
func appendUDPReply(dst, d []byte, from net.Addr) []byte {
	if h, payload, ok := parseSPP(d); ok {
		dst = append(dst, d[:sppLen]...)
		dst = append(dst, "spp: client "...)
		dst = h.client.AppendTo(dst)
		dst = append(dst, " -> edge "...)
		dst = h.edge.AppendTo(dst)
		dst = append(dst, ": "...)
		return append(dst, payload...)
	}
	dst = append(dst, "spp: none (from "...)
	dst = append(dst, addrString(from)...)
	dst = append(dst, "): "...)
	return append(dst, d...)
}

// ServeOriginUDP serves the demo UDP echo on pc until ctx is done: every
// datagram is answered as appendUDPReply describes. It returns nil when
// ctx ends and an error if reading fails otherwise; pc is closed on return.
func ServeOriginUDP(ctx context.Context, pc net.PacketConn, log *slog.Logger) error {
	log = originLogger(log)
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	defer pc.Close()
	buf := make([]byte, originMaxDatagram)
	var out []byte
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
				continue // an ICMP error for an earlier reply
			}
			return fmt.Errorf("reading udp on %s: %w", pc.LocalAddr(), err)
		}
		out = appendUDPReply(out[:0], buf[:n], from)
		if _, err := pc.WriteTo(out, from); err != nil && ctx.Err() == nil {
			log.Debug("replying to udp datagram", "remote_addr", from, "len", len(out), "err", err)
		}
	}
}

// ServeOriginTCP serves the demo TCP origin on ln until ctx is done: an
// SSH-like echo service that prints the PROXY header it received. Per
// connection it reads an optional PROXY v1 or v2 header (waiting at most
// 5 s), writes two lines, the banner and what it learnt from the header:
//
//	SSH-2.0-edgesim_demo_origin
//	proxy-protocol: v2 TCP4 client 192.0.2.10:40312 -> edge 203.0.113.18:22
//
// (see proxyLine for the other forms), then echoes every byte until the
// client's EOF, which it passes on with a half-close. Connections idle for
// 10 min are closed. It returns nil when ctx ends and an error if accepting
// fails otherwise; ln and every connection are closed on return.
func ServeOriginTCP(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	o := &tcpOrigin{headerTimeout: originHeaderTimeout, idleTimeout: originIdleTimeout, log: originLogger(log)}
	return o.serve(ctx, ln)
}

// tcpOrigin holds the TCP origin's settings; tests shorten the timeouts.
type tcpOrigin struct {
	headerTimeout time.Duration
	idleTimeout   time.Duration
	log           *slog.Logger
}

func (o *tcpOrigin) serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // closes ln and every connection
		wg.Wait()
	}()
	context.AfterFunc(ctx, func() { ln.Close() })
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !temporaryAcceptError(err) {
				return fmt.Errorf("accepting on %s: %w", ln.Addr(), err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			o.log.Debug("accepting", "addr", ln.Addr(), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		delay = 0
		wg.Go(func() { o.handleConn(ctx, c) })
	}
}

// temporaryAcceptError reports whether Accept may succeed if retried.
func temporaryAcceptError(err error) bool {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (o *tcpOrigin) handleConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	// bufio keeps whatever follows the header (or, without one, the
	// client's first bytes: Read only peeks then) for the echo below.
	br := bufio.NewReader(c)
	h, err := proxyproto.ReadHeaderTimeout(c, br, o.headerTimeout)
	if errors.Is(err, proxyproto.ErrNoProxyProtocol) {
		h, err = nil, nil
	}
	out := append([]byte(originBanner), '\n')
	if err != nil {
		// A signature was there but not a valid header: the stream
		// position is unknown, so say why and hang up.
		out = fmt.Appendf(out, "proxy-protocol: invalid (%v)\n", err)
		c.SetWriteDeadline(time.Now().Add(o.headerTimeout))
		c.Write(out)
		o.log.Info("origin connection", "transport", "tcp", "proxy_protocol", "invalid", "remote_addr", c.RemoteAddr(), "err", err)
		return
	}
	out = append(out, proxyLine(h, c.RemoteAddr())...)
	out = append(out, '\n')
	client, edge, version := connEnds(h, c)
	o.log.Info("origin connection", "transport", "tcp", "client", client, "edge", edge, "proxy_protocol", version, "remote_addr", c.RemoteAddr())

	c.SetWriteDeadline(time.Now().Add(o.idleTimeout))
	if _, err := c.Write(out); err != nil {
		o.log.Debug("origin connection closed", "remote_addr", c.RemoteAddr(), "echoed", 0, "err", err)
		return
	}
	n, err := o.echo(c, br)
	o.log.Debug("origin connection closed", "remote_addr", c.RemoteAddr(), "echoed", n, "err", err)
}

// echo copies r (c's buffered reader) back to c until EOF, then closes c
// for writing. Each read and write must finish within the idle timeout.
func (o *tcpOrigin) echo(c net.Conn, r io.Reader) (int64, error) {
	buf := make([]byte, originCopyBuffer)
	var total int64
	for {
		c.SetReadDeadline(time.Now().Add(o.idleTimeout))
		n, err := r.Read(buf)
		if n > 0 {
			c.SetWriteDeadline(time.Now().Add(o.idleTimeout))
			w, werr := c.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				return total, cw.CloseWrite()
			}
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// proxyLine describes the PROXY header h of a connection from remote (the
// proxy, or the client itself when h is nil), without a line ending:
//
//	proxy-protocol: v1 TCP4 client 192.0.2.10:40312 -> edge 203.0.113.18:22
//	proxy-protocol: v2 TCP6 client [2001:db8::10]:40312 -> edge [2001:db8:100::5]:22
//	proxy-protocol: v1 UNKNOWN (connection from 192.0.2.13:51234)
//	proxy-protocol: v2 LOCAL (connection from 192.0.2.13:51234)
//	proxy-protocol: none (direct connection from 192.0.2.13:51234)
//
// Addresses are unmapped; the transport is TCP4, TCP6, UDP4, UDP6, UNIX,
// UNIXGRAM or UNSPEC as the header declares it.
func proxyLine(h *proxyproto.Header, remote net.Addr) string {
	switch {
	case h == nil:
		return "proxy-protocol: none (direct connection from " + addrString(remote) + ")"
	case h.Command.IsLocal() && h.Version == 1:
		return "proxy-protocol: v1 UNKNOWN (connection from " + addrString(remote) + ")"
	case h.Command.IsLocal():
		return "proxy-protocol: v" + strconv.Itoa(int(h.Version)) + " LOCAL (connection from " + addrString(remote) + ")"
	}
	return "proxy-protocol: v" + strconv.Itoa(int(h.Version)) + " " + transportName(h.TransportProtocol) +
		" client " + addrString(h.SourceAddr) + " -> edge " + addrString(h.DestinationAddr)
}

// connEnds returns the client and edge of c for the log: from the PROXY
// header when it carries addresses, else c's own ends.
func connEnds(h *proxyproto.Header, c net.Conn) (client, edge, version string) {
	switch {
	case h == nil:
		return addrString(c.RemoteAddr()), addrString(c.LocalAddr()), "none"
	case h.Command.IsLocal():
		return addrString(c.RemoteAddr()), addrString(c.LocalAddr()), "v" + strconv.Itoa(int(h.Version)) + " local"
	}
	return addrString(h.SourceAddr), addrString(h.DestinationAddr), "v" + strconv.Itoa(int(h.Version))
}

func transportName(t proxyproto.AddressFamilyAndProtocol) string {
	switch t {
	case proxyproto.TCPv4:
		return "TCP4"
	case proxyproto.TCPv6:
		return "TCP6"
	case proxyproto.UDPv4:
		return "UDP4"
	case proxyproto.UDPv6:
		return "UDP6"
	case proxyproto.UnixStream:
		return "UNIX"
	case proxyproto.UnixDatagram:
		return "UNIXGRAM"
	}
	return "UNSPEC"
}

// addrString prints an IP address and port unmapped ("192.0.2.1:22",
// "[2001:db8::1]:22"), any other address as its String, nil as "unknown".
func addrString(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		if a != nil {
			ap := a.AddrPort()
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		}
	case *net.UDPAddr:
		if a != nil {
			ap := a.AddrPort()
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		}
	case nil:
	default:
		return a.String()
	}
	return "unknown"
}

// RunOrigin listens on tcpAddr and udpAddr (as for net.Listen and
// net.ListenPacket) and serves the demo origins, ServeOriginTCP and
// ServeOriginUDP, until ctx is done; then it returns nil. It fails if
// either address cannot be bound (closing the other), and stops both if
// either server fails, returning that error.
func RunOrigin(ctx context.Context, tcpAddr, udpAddr string, log *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", tcpAddr)
	if err != nil {
		return fmt.Errorf("listening on tcp %q: %w", tcpAddr, err)
	}
	pc, err := lc.ListenPacket(ctx, "udp", udpAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listening on udp %q: %w", udpAddr, err)
	}
	originLogger(log).Info("demo origin listening", "tcp", ln.Addr(), "udp", pc.LocalAddr())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg             sync.WaitGroup
		tcpErr, udpErr error
	)
	wg.Go(func() {
		tcpErr = ServeOriginTCP(ctx, ln, log)
		cancel()
	})
	wg.Go(func() {
		udpErr = ServeOriginUDP(ctx, pc, log)
		cancel()
	})
	wg.Wait()
	return errors.Join(tcpErr, udpErr)
}

// originLogger treats nil as discard and tags the origin's lines.
func originLogger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log.With("component", "demo_origin")
}
