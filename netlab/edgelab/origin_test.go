package edgelab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

const originTestTimeout = 5 * time.Second

// startTCPOrigin serves o on a loopback listener until the test ends and
// checks that serving then stops cleanly.
func startTCPOrigin(t *testing.T, o *tcpOrigin) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve after cancel = %v, want nil", err)
		}
	})
	return ln.Addr().String()
}

func defaultTCPOrigin(log *slog.Logger) *tcpOrigin {
	return &tcpOrigin{headerTimeout: originHeaderTimeout, idleTimeout: originIdleTimeout, log: originLogger(log)}
}

func dialOrigin(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: originTestTimeout}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(originTestTimeout))
	return c.(*net.TCPConn)
}

func readOrigin(t *testing.T, c net.Conn) string {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading to EOF: %v (got %q)", err, b)
	}
	return string(b)
}

func ppAddr(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

func TestOriginTCP(t *testing.T) {
	t.Parallel()
	addr := startTCPOrigin(t, defaultTCPOrigin(nil))
	const payload = "hello\r\nPROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n\x00\xff\x0d\x0a"
	tests := []struct {
		name   string
		header *proxyproto.Header // nil: none
		want   string             // second line; %s is the client's own address
	}{
		{"v1", &proxyproto.Header{Version: 1, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
			SourceAddr: ppAddr("192.0.2.10:40312"), DestinationAddr: ppAddr("203.0.113.18:22")},
			"proxy-protocol: v1 TCP4 client 192.0.2.10:40312 -> edge 203.0.113.18:22"},
		{"v1-tcp6", &proxyproto.Header{Version: 1, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv6,
			SourceAddr: ppAddr("[2001:db8::10]:40312"), DestinationAddr: ppAddr("[2001:db8:100::5]:22")},
			"proxy-protocol: v1 TCP6 client [2001:db8::10]:40312 -> edge [2001:db8:100::5]:22"},
		{"v1-unknown", &proxyproto.Header{Version: 1, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC},
			"proxy-protocol: v1 UNKNOWN (connection from %s)"},
		{"v2", &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
			SourceAddr: ppAddr("192.0.2.10:40312"), DestinationAddr: ppAddr("203.0.113.18:22")},
			"proxy-protocol: v2 TCP4 client 192.0.2.10:40312 -> edge 203.0.113.18:22"},
		{"v2-tcp6", &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv6,
			SourceAddr: ppAddr("[2001:db8::10]:1"), DestinationAddr: ppAddr("[2001:db8:100::5]:65535")},
			"proxy-protocol: v2 TCP6 client [2001:db8::10]:1 -> edge [2001:db8:100::5]:65535"},
		{"v2-mapped", &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv6,
			SourceAddr: ppAddr("[::ffff:192.0.2.10]:40312"), DestinationAddr: ppAddr("[2001:db8:100::5]:22")},
			"proxy-protocol: v2 TCP6 client 192.0.2.10:40312 -> edge [2001:db8:100::5]:22"},
		{"v2-local", &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC},
			"proxy-protocol: v2 LOCAL (connection from %s)"},
		{"none", nil, "proxy-protocol: none (direct connection from %s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialOrigin(t, addr)
			if tt.header != nil {
				if _, err := tt.header.WriteTo(c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Write([]byte(payload)); err != nil {
				t.Fatal(err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			line := tt.want
			if strings.Contains(line, "%s") {
				line = fmt.Sprintf(line, c.LocalAddr())
			}
			want := originBanner + "\n" + line + "\n" + payload
			if got := readOrigin(t, c); got != want {
				t.Errorf("origin sent\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestOriginTCPEcho checks that the origin echoes while the client keeps
// sending, passes the client's EOF on (half-close), and still writes after
// the client's EOF.
func TestOriginTCPEcho(t *testing.T) {
	t.Parallel()
	addr := startTCPOrigin(t, defaultTCPOrigin(nil))

	t.Run("interactive", func(t *testing.T) {
		t.Parallel()
		c := dialOrigin(t, addr)
		h := proxyproto.HeaderProxyFromAddrs(2, ppAddr("192.0.2.10:40312"), ppAddr("203.0.113.18:22"))
		if _, err := h.WriteTo(c); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		for _, want := range []string{originBanner + "\n", "proxy-protocol: v2 TCP4 client 192.0.2.10:40312 -> edge 203.0.113.18:22\n"} {
			if got, err := r.ReadString('\n'); got != want || err != nil {
				t.Fatalf("line = %q, %v; want %q", got, err, want)
			}
		}
		for _, msg := range []string{"ping\n", "pong\n"} {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			if got, err := r.ReadString('\n'); got != msg || err != nil {
				t.Fatalf("echo = %q, %v; want %q", got, err, msg)
			}
		}
		c.CloseWrite()
		if b, err := io.ReadAll(r); len(b) != 0 || err != nil {
			t.Fatalf("after half-close read %q, %v; want EOF", b, err)
		}
	})

	t.Run("bulk", func(t *testing.T) {
		t.Parallel()
		c := dialOrigin(t, addr)
		data := make([]byte, 4<<20)
		rng := rand.New(rand.NewPCG(42, 42))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		data[0] = 'x' // not a PROXY signature
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(data)
			werr <- errors.Join(err, c.CloseWrite())
		}()
		got := readOrigin(t, c)
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		prefix := originBanner + "\nproxy-protocol: none (direct connection from " + c.LocalAddr().String() + ")\n"
		if !strings.HasPrefix(got, prefix) || got[len(prefix):] != string(data) {
			t.Fatalf("echo of %d bytes: got %d bytes, prefix %q", len(data), len(got), got[:min(len(got), len(prefix))])
		}
	})

	t.Run("eof-first", func(t *testing.T) {
		t.Parallel()
		c := dialOrigin(t, addr)
		c.CloseWrite() // the origin sees EOF before anything else
		want := originBanner + "\nproxy-protocol: none (direct connection from " + c.LocalAddr().String() + ")\n"
		if got := readOrigin(t, c); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

func TestOriginTCPInvalidHeader(t *testing.T) {
	t.Parallel()
	addr := startTCPOrigin(t, defaultTCPOrigin(nil))
	c := dialOrigin(t, addr)
	if _, err := c.Write([]byte("PROXY TCP4 192.0.2.10\r\nhello")); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s\nproxy-protocol: invalid (%v)\n", originBanner, proxyproto.ErrCantReadAddressFamilyAndProtocol)
	if got := readOrigin(t, c); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestOriginTCPHeaderTimeout checks that a client that waits for the
// banner gets it once the header wait ends, and that bytes read while
// looking for a header are still echoed.
func TestOriginTCPHeaderTimeout(t *testing.T) {
	t.Parallel()
	addr := startTCPOrigin(t, &tcpOrigin{headerTimeout: 50 * time.Millisecond, idleTimeout: time.Minute, log: originLogger(nil)})
	for _, first := range []string{"", "PRO", "\r\n\r\n"} { // nothing, partial v1 and v2 signatures
		t.Run(fmt.Sprintf("%q", first), func(t *testing.T) {
			t.Parallel()
			c := dialOrigin(t, addr)
			if _, err := c.Write([]byte(first)); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			want := []string{originBanner + "\n", "proxy-protocol: none (direct connection from " + c.LocalAddr().String() + ")\n"}
			for _, w := range want {
				if got, err := r.ReadString('\n'); got != w || err != nil {
					t.Fatalf("line = %q, %v; want %q", got, err, w)
				}
			}
			c.Write([]byte("XY"))
			c.CloseWrite()
			if got, err := io.ReadAll(r); string(got) != first+"XY" || err != nil {
				t.Fatalf("echo = %q, %v; want %q", got, err, first+"XY")
			}
		})
	}
}

func TestOriginTCPIdleTimeout(t *testing.T) {
	t.Parallel()
	addr := startTCPOrigin(t, &tcpOrigin{headerTimeout: time.Second, idleTimeout: 100 * time.Millisecond, log: originLogger(nil)})
	c := dialOrigin(t, addr)
	c.Write([]byte("a"))
	start := time.Now()
	want := originBanner + "\nproxy-protocol: none (direct connection from " + c.LocalAddr().String() + ")\na"
	if got := readOrigin(t, c); got != want { // EOF: the origin hung up
		t.Errorf("got %q, want %q", got, want)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
}

func TestOriginTCPShutdown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ServeOriginTCP(ctx, ln, nil) }()
	c := dialOrigin(t, ln.Addr().String())
	c.Write([]byte("x"))
	r := bufio.NewReader(c)
	for range 2 {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeOriginTCP after cancel = %v, want nil", err)
		}
	case <-time.After(originTestTimeout):
		t.Fatal("ServeOriginTCP did not return after cancel")
	}
	if _, err := io.ReadAll(r); err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatal("open connection not closed on shutdown")
		}
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), originTestTimeout); err == nil {
		t.Error("listener still accepting after shutdown")
	}
}

func TestOriginTCPListenerError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := ServeOriginTCP(t.Context(), ln, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ServeOriginTCP on a closed listener = %v, want net.ErrClosed", err)
	}
}

// originRecorder is an slog.Handler that keeps records for assertions.
type originRecorder struct{ ch chan slog.Record }

func newOriginRecorder() (*slog.Logger, originRecorder) {
	r := originRecorder{make(chan slog.Record, 64)}
	return slog.New(r), r
}
func (r originRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r originRecorder) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r.ch <- rec.Clone():
	default:
	}
	return nil
}
func (r originRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r originRecorder) WithGroup(string) slog.Handler      { return r }

// wait returns the attributes of the next record with message msg.
func (r originRecorder) wait(t *testing.T, msg string) (slog.Level, map[string]string) {
	t.Helper()
	timeout := time.After(originTestTimeout)
	for {
		select {
		case rec := <-r.ch:
			if rec.Message != msg {
				continue
			}
			attrs := map[string]string{}
			rec.Attrs(func(a slog.Attr) bool {
				attrs[a.Key] = fmt.Sprint(a.Value.Any())
				return true
			})
			return rec.Level, attrs
		case <-timeout:
			t.Fatalf("no %q log line", msg)
		}
	}
}

func TestOriginTCPLog(t *testing.T) {
	t.Parallel()
	log, rec := newOriginRecorder()
	addr := startTCPOrigin(t, defaultTCPOrigin(log))
	c := dialOrigin(t, addr)
	h := proxyproto.HeaderProxyFromAddrs(2, ppAddr("192.0.2.10:40312"), ppAddr("203.0.113.18:22"))
	h.WriteTo(c)
	c.CloseWrite()
	readOrigin(t, c)
	level, attrs := rec.wait(t, "origin connection")
	want := map[string]string{"transport": "tcp", "client": "192.0.2.10:40312", "edge": "203.0.113.18:22",
		"proxy_protocol": "v2", "remote_addr": c.LocalAddr().String()}
	if level != slog.LevelInfo || fmt.Sprint(attrs) != fmt.Sprint(want) {
		t.Errorf("log = %v %v, want INFO %v", level, attrs, want)
	}
}

// Simple Proxy Protocol headers written out by hand, independent of the
// decoder and of the proxy's encoder.
var (
	sppHdr4 = []byte{
		0x56, 0xEC,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10, // client ::ffff:192.0.2.10
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 18, // edge ::ffff:203.0.113.18
		0x13, 0x88, // client port 5000
		0x00, 0x07, // edge port 7
	}
	sppHdr6 = []byte{
		0x56, 0xEC,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, // 2001:db8::10
		0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, // 2001:db8:100::5
		0xff, 0xff, // 65535
		0x00, 0x35, // 53
	}
)

func catBytes(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func startUDPOrigin(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeOriginUDP(ctx, pc, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeOriginUDP after cancel = %v, want nil", err)
		}
	})
	return pc.LocalAddr().String()
}

func TestOriginUDP(t *testing.T) {
	t.Parallel()
	addr := startUDPOrigin(t)
	short := append([]byte(nil), sppHdr4[:sppLen-1]...)
	badMagic := catBytes([]byte{0x56, 0xED}, sppHdr4[2:], []byte("x"))
	tests := []struct {
		name string
		in   []byte
		want []byte // "%s" stands for the sender's address in "none" replies
	}{
		{"spp4", catBytes(sppHdr4, []byte("hello")), catBytes(sppHdr4, []byte("spp: client 192.0.2.10:5000 -> edge 203.0.113.18:7: hello"))},
		{"spp6", catBytes(sppHdr6, []byte("\x56\xec\x00")), catBytes(sppHdr6, []byte("spp: client [2001:db8::10]:65535 -> edge [2001:db8:100::5]:53: \x56\xec\x00"))},
		{"spp-empty", sppHdr4, catBytes(sppHdr4, []byte("spp: client 192.0.2.10:5000 -> edge 203.0.113.18:7: "))},
		{"short", short, catBytes([]byte("spp: none (from %s): "), short)},
		{"garbage", []byte{0x56, 0xEC, 0x01}, []byte("spp: none (from %s): \x56\xec\x01")},
		{"bad-magic", badMagic, catBytes([]byte("spp: none (from %s): "), badMagic)},
		{"plain", []byte("hello"), []byte("spp: none (from %s): hello")},
		{"empty", nil, []byte("spp: none (from %s): ")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(originTestTimeout))
			if _, err := c.Write(tt.in); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, originMaxDatagram)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Replace(tt.want, []byte("%s"), []byte(c.LocalAddr().String()), 1)
			if got := buf[:n]; !bytes.Equal(got, want) {
				t.Errorf("reply\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestOriginUDPErrors(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()
	if err := ServeOriginUDP(t.Context(), pc, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ServeOriginUDP on a closed socket = %v, want net.ErrClosed", err)
	}
}

func TestRunOrigin(t *testing.T) {
	t.Parallel()
	log, rec := newOriginRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- RunOrigin(ctx, "127.0.0.1:0", "127.0.0.1:0", log) }()
	_, attrs := rec.wait(t, "demo origin listening")

	c := dialOrigin(t, attrs["tcp"])
	c.Write([]byte("hi"))
	c.CloseWrite()
	if got := readOrigin(t, c); !strings.HasSuffix(got, ")\nhi") {
		t.Errorf("tcp origin sent %q", got)
	}
	u, err := net.Dial("udp", attrs["udp"])
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(originTestTimeout))
	u.Write(catBytes(sppHdr4, []byte("hi")))
	buf := make([]byte, 512)
	n, err := u.Read(buf)
	if want := catBytes(sppHdr4, []byte("spp: client 192.0.2.10:5000 -> edge 203.0.113.18:7: hi")); err != nil || !bytes.Equal(buf[:n], want) {
		t.Errorf("udp origin replied %q, %v; want %q", buf[:n], err, want)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunOrigin after cancel = %v, want nil", err)
	}
}

func TestRunOriginBindError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, addrs := range [][2]string{{ln.Addr().String(), "127.0.0.1:0"}, {"127.0.0.1:0", pc.LocalAddr().String()}} {
		if err := RunOrigin(t.Context(), addrs[0], addrs[1], nil); err == nil {
			t.Errorf("RunOrigin(%q, %q) = nil, want a bind error", addrs[0], addrs[1])
		}
	}
}

// encodeSPP is the test's Simple Proxy Protocol encoder.
func encodeSPP(h sppHeader, payload []byte) []byte {
	b := make([]byte, sppLen, sppLen+len(payload))
	binary.BigEndian.PutUint16(b, sppMagic)
	c, e := h.client.Addr().As16(), h.edge.Addr().As16()
	copy(b[2:18], c[:])
	copy(b[18:34], e[:])
	binary.BigEndian.PutUint16(b[34:], h.client.Port())
	binary.BigEndian.PutUint16(b[36:], h.edge.Port())
	return append(b, payload...)
}

// FuzzSPPDecode decodes arbitrary datagrams: a header is found exactly
// when there are 38 bytes starting with the magic, it re-encodes to the
// same bytes with unmapped addresses, headers built from the input decode
// to themselves, and the reply is framed as documented.
func FuzzSPPDecode(f *testing.F) {
	f.Add(catBytes(sppHdr4, []byte("hello")))
	f.Add(sppHdr6)
	f.Add(sppHdr4[:sppLen-1])
	f.Add([]byte{0x56, 0xEC})
	f.Add([]byte{})
	from := &net.UDPAddr{IP: net.ParseIP("192.0.2.13"), Port: 40000}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, ok := parseSPP(b)
		wantOK := len(b) >= sppLen && b[0] == 0x56 && b[1] == 0xEC
		if ok != wantOK {
			t.Fatalf("parseSPP(%x) ok = %v, want %v", b, ok, wantOK)
		}
		reply := appendUDPReply(nil, b, from)
		if !ok {
			if want := catBytes([]byte("spp: none (from 192.0.2.13:40000): "), b); !bytes.Equal(reply, want) {
				t.Fatalf("reply %q, want %q", reply, want)
			}
		} else {
			if h.client.Addr().Is4In6() || h.edge.Addr().Is4In6() {
				t.Fatalf("addresses not unmapped: %v", h)
			}
			if re := encodeSPP(h, payload); !bytes.Equal(re, b) {
				t.Fatalf("re-encoded %x, want %x", re, b)
			}
			want := catBytes(b[:sppLen], []byte("spp: client "+h.client.String()+" -> edge "+h.edge.String()+": "), payload)
			if !bytes.Equal(reply, want) {
				t.Fatalf("reply %q, want %q", reply, want)
			}
		}

		// decode(encode(x)) == x for headers made of the input's bytes,
		// both as IPv6 (unmapped, as decoded) and as IPv4.
		if len(b) < 36 {
			return
		}
		port := func(i int) uint16 { return binary.BigEndian.Uint16(b[i:]) }
		for _, x := range []sppHeader{
			{netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[0:16])).Unmap(), port(32)),
				netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[16:32])).Unmap(), port(34))},
			{netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[0:4])), port(32)),
				netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port(34))},
		} {
			got, p, ok := parseSPP(encodeSPP(x, b[36:]))
			if !ok || got != x || !bytes.Equal(p, b[36:]) {
				t.Fatalf("parseSPP(encode(%v)) = %v, %x, %v", x, got, p, ok)
			}
		}
	})
}
