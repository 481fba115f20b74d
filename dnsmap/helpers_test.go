package dnsmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// testZones returns the comparison zones as zone-file text by origin: the
// files in testdata plus generated names (hosts, and RRsets sized to
// exercise truncation: "big" needs more than 512 bytes, "wide" more than
// 1232).
func testZones(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, origin := range []string{"a.test.", "b.test."} {
		b, err := os.ReadFile(filepath.Join("testdata", origin+"zone"))
		if err != nil {
			t.Fatal(err)
		}
		out[origin] = string(b)
	}
	var sb strings.Builder
	sb.WriteString(out["a.test."])
	for i := range 300 {
		fmt.Fprintf(&sb, "h%d IN A 192.0.2.%d\n", i, i%250+1)
		if i%2 == 0 {
			fmt.Fprintf(&sb, "h%d IN AAAA 2001:db8::%x\n", i, i+1)
		}
	}
	for i := range 40 {
		fmt.Fprintf(&sb, "big IN A 203.0.113.%d\n", i+1)
	}
	for i := range 70 {
		fmt.Fprintf(&sb, "wide IN AAAA 2001:db8:1::%x\n", i+1)
	}
	out["a.test."] = sb.String()
	return out
}

func buildZones(t testing.TB, texts map[string]string) *Set {
	t.Helper()
	var zones []Zone
	for _, origin := range []string{"a.test.", "b.test."} {
		z, err := ParseZone(strings.NewReader(texts[origin]), origin, origin+"zone")
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, z)
	}
	set, err := Build(zones)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// testSet is the comparison data as a Set.
func testSet(t testing.TB) *Set { return buildZones(t, testZones(t)) }

// serve starts a Server for set on a free loopback port (UDP and TCP) and
// returns its address; everything stops at test cleanup.
func serve(t testing.TB, set *Set, opts Options) (*Server, string) {
	t.Helper()
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Store(set)
	var uc *net.UDPConn
	var ln net.Listener
	for range 20 {
		uc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", uc.LocalAddr().String())
		if err == nil {
			break
		}
		uc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- srv.ServeUDP(ctx, uc) }()
	go func() { done <- srv.ServeTCP(ctx, ln) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
		uc.Close()
	})
	return srv, uc.LocalAddr().String()
}

// exchange sends raw over net ("udp" or "tcp") and returns the raw reply,
// or nil after timeout.
func exchange(t testing.TB, network, addr string, raw []byte, timeout time.Duration) []byte {
	t.Helper()
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	buf := make([]byte, 0xffff+2)
	if network == "tcp" {
		if _, err := c.Write(append([]byte{byte(len(raw) >> 8), byte(len(raw))}, raw...)); err != nil {
			t.Fatal(err)
		}
		if _, err := readFull(c, buf[:2]); err != nil {
			return nil
		}
		n := int(buf[0])<<8 | int(buf[1])
		if _, err := readFull(c, buf[:n]); err != nil {
			return nil
		}
		return buf[:n]
	}
	if _, err := c.Write(raw); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return nil // ICMP refused etc.
	}
	return buf[:n]
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// msg builds a query.
func msg(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	return m
}

func pack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unpack(t testing.TB, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("unpacking response %x: %v", b, err)
	}
	return m
}
