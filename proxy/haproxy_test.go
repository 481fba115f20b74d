package proxy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startHAProxy runs haproxy in the foreground with cfg (where %PORT% is
// replaced by a free loopback port) and returns that port. It skips when
// haproxy is not installed (fails under CI=true).
func startHAProxy(t *testing.T, cfg string) uint16 {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil {
			requireCI(t, "skipping: haproxy not installed (run: make deps, or apt-get install haproxy)")
		}
		bin = "/usr/sbin/haproxy"
	}
	port := closedPort(t).Port()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(cfg, "%PORT%", fmt.Sprint(port))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting haproxy: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not listen on %d: %v", port, err)
		}
	}
}

// TestHAProxyAcceptProxy puts HAProxy with accept-proxy behind the proxy as
// the origin: HAProxy decodes the PROXY v1/v2 header and answers with the
// client and edge addresses it learnt (%[src], %[dst]).
func TestHAProxyAcceptProxy(t *testing.T) {
	t.Parallel()
	hp := startHAProxy(t, `
global
  maxconn 100
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:%PORT% accept-proxy
  http-request return status 200 content-type text/plain lf-string "src=%[src]:%[src_port] dst=%[dst]:%[dst_port]"
`)
	for _, pp := range []ProxyProtocol{ProxyV1, ProxyV2} {
		t.Run(pp.String(), func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, Options{})
			port := p.listen(t, TCP)
			app := tcpApp("hp", port, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), hp))
			app.ProxyProtocol = pp
			app.IPFirewall = true
			p.Store(&Config{Table: table(app), Firewall: Rules(nil)})
			c := dial(t, netip.MustParseAddr("127.0.0.55"), netip.AddrPortFrom(edgeIP, port))
			io.WriteString(c, "GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")
			b, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("src=%s dst=%s", c.LocalAddr(), netip.AddrPortFrom(edgeIP, port))
			if !strings.HasSuffix(string(b), want) {
				t.Errorf("haproxy answered %q, want body %q", b, want)
			}
		})
	}
}
