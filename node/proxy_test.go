package node

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/edgesim/edgesim/internal/freeport"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/proxy"
)

// echoOrigin is a TCP origin on 127.0.0.1 that reads a PROXY v1 line,
// reports it, then echoes.
type echoOrigin struct {
	addr    netip.AddrPort
	accepts atomic.Int64
	header  atomic.Pointer[string] // the last PROXY line received
}

func startEchoOrigin(t *testing.T) *echoOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	o := &echoOrigin{addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.accepts.Add(1)
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				h, err := r.ReadString('\n')
				if err != nil {
					return
				}
				o.header.Store(&h)
				io.Copy(c, r)
			}()
		}
	}()
	return o
}

// dialEdge connects from 127.0.0.1 to edge.
func dialEdge(edge netip.AddrPort) (*net.TCPConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", edge.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// roundTrip writes msg on c and reads as many bytes back.
func roundTrip(c net.Conn, msg string) (string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	n, err := io.ReadFull(c, buf)
	return string(buf[:n]), err
}

// try opens a new connection to edge and sends one line: served reports
// whether it came back, refused whether the connection was refused, reset
// or closed without data.
func try(edge netip.AddrPort) (served, refused bool, err error) {
	c, err := dialEdge(edge)
	if err != nil {
		return false, errors.Is(err, syscall.ECONNREFUSED), err
	}
	defer c.Close()
	got, err := roundTrip(c, "hello\n")
	if err == nil && got == "hello\n" {
		return true, false, nil
	}
	refused = got == "" && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
	return false, refused, err
}

// waitTry polls new connections to edge until want ("served" or
// "refused") holds; a refused attempt must not have reached the origin.
func waitTry(t *testing.T, edge netip.AddrPort, o *echoOrigin, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		before := o.accepts.Load()
		served, refused, err := try(edge)
		if want == "served" && served {
			return
		}
		if want == "refused" && refused {
			if n := o.accepts.Load(); n != before {
				t.Fatalf("refused connection to %s reached the origin (%d accepts, %d before)", edge, n, before)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection to %s: not %s after 10s; last served=%v refused=%v err=%v", edge, want, served, refused, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProxyServesSnapshots runs a node with listen.proxy on loopback
// (127.0.0.0/8 is all local on Linux, so 127.77.0.0/24 stands in for a
// BYOIP prefix) and drives it through the API: a Spectrum app proxies to
// its origin with a PROXY v1 header; withdrawing the prefix refuses new
// connections without reaching the origin while an established one keeps
// working; a zone block rule refuses with ip_firewall; deleting the app
// closes its listener, and the established connection still survives.
func TestProxyServesSnapshots(t *testing.T) {
	t.Parallel()
	origin := startEchoOrigin(t)
	port := freeport.TCP(t)
	d := testDaemon(t, fmt.Sprintf(`listen: {proxy: true}
zones: [{id: %s, name: example.net, account_id: %s}]
`, zoneNet, acctA))
	base := startNode(t, d)
	o := onboard(t, base, "127.77.0.0/24", 64496, "127.77.0.16/29")
	o.patch(t, base, `{"on_demand":{"advertised":true}}`)
	var app struct{ ID string }
	call(t, base, "POST", "/client/v4/zones/"+zoneNet+"/spectrum/apps", fmt.Sprintf(`{
		"protocol": "tcp/%d",
		"dns": {"type": "ADDRESS", "name": "l4.example.net"},
		"edge_ips": {"type": "static", "ips": ["127.77.0.18"]},
		"origin_direct": ["tcp://%s"],
		"proxy_protocol": "v1",
		"ip_firewall": true}`, port, origin.addr), &app)
	edge := netip.AddrPortFrom(netip.MustParseAddr("127.77.0.18"), port)

	waitTry(t, edge, origin, "served")
	h := *origin.header.Load() // the served attempt's
	if pre := "PROXY TCP4 127.0.0.1 127.77.0.18 "; !strings.HasPrefix(h, pre) || !strings.HasSuffix(h, fmt.Sprintf(" %d\r\n", port)) {
		t.Errorf("origin got header %q, want %q...\" %d\\r\\n\"", h, pre, port)
	}
	est, err := dialEdge(edge)
	if err != nil {
		t.Fatal(err)
	}
	defer est.Close()
	if got, err := roundTrip(est, "one\n"); got != "one\n" {
		t.Fatalf("established connection: got %q (%v), want the echo", got, err)
	}
	// An address of the binding without an app: closed, no origin connection.
	waitTry(t, netip.AddrPortFrom(netip.MustParseAddr("127.77.0.19"), port), origin, "refused")
	// Outside the Spectrum binding (the CDN default binding): not served.
	waitTry(t, netip.AddrPortFrom(netip.MustParseAddr("127.77.0.1"), port), origin, "refused")

	o.patch(t, base, `{"on_demand":{"advertised":false}}`)
	waitTry(t, edge, origin, "refused")
	if got, err := roundTrip(est, "two\n"); got != "two\n" {
		t.Errorf("established connection after the withdrawal: got %q (%v), want the echo", got, err)
	}

	o.patch(t, base, `{"on_demand":{"advertised":true}}`)
	waitTry(t, edge, origin, "served")
	call(t, base, "POST", "/client/v4/zones/"+zoneNet+"/firewall/access_rules/rules",
		`{"mode":"block","configuration":{"target":"ip","value":"127.0.0.1"}}`, nil)
	waitTry(t, edge, origin, "refused")

	// Deleting the app closes the listener: the port refuses connections.
	call(t, base, "DELETE", "/client/v4/zones/"+zoneNet+"/spectrum/apps/"+app.ID, "", nil)
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, _, err := try(edge)
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after deleting the app: dial %s err %v, want connection refused (listener closed)", edge, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, err := roundTrip(est, "three\n"); got != "three\n" {
		t.Errorf("established connection after its listener closed: got %q (%v), want the echo", got, err)
	}
}

// TestProxyApp checks the mapping from Spectrum apps to proxy apps.
func TestProxyApp(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort
	tests := []struct {
		name string
		in   config.SpectrumApp
		want *proxy.App
	}{
		{"tcp single port v1", config.SpectrumApp{ID: "a", ZoneID: "z", Protocol: "tcp/22", OriginDirect: []string{"tcp://192.0.2.1:2222", "tcp://[2001:db8::1]:22"}, ProxyProtocol: "v1", IPFirewall: true},
			&proxy.App{ID: "a", ZoneID: "z", Transport: proxy.TCP, EdgePortLow: 22, EdgePortHigh: 22, Origins: []netip.AddrPort{ap("192.0.2.1:2222"), ap("[2001:db8::1]:22")}, ProxyProtocol: proxy.ProxyV1, IPFirewall: true}},
		{"tcp range", config.SpectrumApp{ID: "b", Protocol: "tcp/1000-1009", OriginDirect: []string{"tcp://192.0.2.1:2000-2009"}, ProxyProtocol: "v2"},
			&proxy.App{ID: "b", Transport: proxy.TCP, EdgePortLow: 1000, EdgePortHigh: 1009, Origins: []netip.AddrPort{ap("192.0.2.1:2000")}, OriginPortLow: 2000, OriginPortHigh: 2009, ProxyProtocol: proxy.ProxyV2}},
		{"udp origin_dns", config.SpectrumApp{ID: "c", Protocol: "udp/53", OriginDNS: &config.OriginDNS{Name: "origin.example.com", Type: "A", TTL: 30}, OriginPort: &config.PortRange{Low: 5353, High: 5353}, ProxyProtocol: "simple"},
			&proxy.App{ID: "c", Transport: proxy.UDP, EdgePortLow: 53, EdgePortHigh: 53, OriginDNS: &proxy.OriginDNS{Name: "origin.example.com", Type: "A", TTL: 30 * time.Second}, OriginPortLow: 5353, OriginPortHigh: 5353, ProxyProtocol: proxy.ProxySimple}},
		{"off", config.SpectrumApp{ID: "d", Protocol: "tcp/80", OriginDirect: []string{"tcp://192.0.2.1:80"}, ProxyProtocol: "off"},
			&proxy.App{ID: "d", Transport: proxy.TCP, EdgePortLow: 80, EdgePortHigh: 80, Origins: []netip.AddrPort{ap("192.0.2.1:80")}}},
	}
	for _, tt := range tests {
		got, err := proxyApp(&tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		g, w := fmt.Sprintf("%+v %+v", appFields(got), got.OriginDNS), fmt.Sprintf("%+v %+v", appFields(tt.want), tt.want.OriginDNS)
		if g != w {
			t.Errorf("%s: proxyApp = %s, want %s", tt.name, g, w)
		}
	}
}

// appFields lists an App's config fields (an App must not be copied).
func appFields(a *proxy.App) []any {
	return []any{a.ID, a.ZoneID, a.Transport, a.EdgePortLow, a.EdgePortHigh, a.Origins, a.OriginPortLow, a.OriginPortHigh, a.ProxyProtocol, a.IPFirewall}
}

// TestProxyTable checks the per-snapshot table and firewall: served only
// on an active, announced Spectrum binding (or a dynamic app's pool
// address), the app by transport and port range, access rules per zone
// then account, and listeners capped per app.
func TestProxyTable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	mp, ma := netip.MustParsePrefix, netip.MustParseAddr
	st := config.NewState()
	spectrum := config.Services()[2].ID
	st.Prefixes["p1"] = &config.Prefix{ID: "p1", AccountID: "acct", CIDR: mp("203.0.113.0/24"), Approved: true}
	st.Bindings["b0"] = &config.Binding{ID: "b0", PrefixID: "p1", CIDR: mp("203.0.113.0/24"), ServiceID: config.Services()[1].ID}
	st.Bindings["b1"] = &config.Binding{ID: "b1", PrefixID: "p1", CIDR: mp("203.0.113.16/29"), ServiceID: spectrum}
	st.BGPPrefixes["g1"] = &config.BGPPrefix{ID: "g1", PrefixID: "p1", CIDR: mp("203.0.113.0/24"), Advertised: true}
	st.SpectrumApps["s1"] = &config.SpectrumApp{ID: "s1", ZoneID: "z1", AccountID: "acct", Protocol: "tcp/22", OriginDirect: []string{"tcp://192.0.2.1:22"}, ProxyProtocol: "off", IPFirewall: true,
		EdgeIPs: config.SpectrumEdgeIPs{Type: config.EdgeIPsStatic, IPs: []netip.Addr{ma("203.0.113.18"), ma("203.0.113.1")}}}
	st.SpectrumApps["s2"] = &config.SpectrumApp{ID: "s2", ZoneID: "z1", AccountID: "acct", Protocol: "tcp/1000-3047", OriginDirect: []string{"tcp://192.0.2.1:1000-3047"}, ProxyProtocol: "off",
		EdgeIPs: config.SpectrumEdgeIPs{Type: config.EdgeIPsStatic, IPs: []netip.Addr{ma("203.0.113.18")}}}
	st.SpectrumApps["s3"] = &config.SpectrumApp{ID: "s3", ZoneID: "z2", AccountID: "acct", Protocol: "udp/53", OriginDirect: []string{"udp://192.0.2.1:53"}, ProxyProtocol: "off",
		EdgeIPs: config.SpectrumEdgeIPs{Type: config.EdgeIPsDynamic, Connectivity: "ipv4", IPs: []netip.Addr{ma("192.0.2.77")}}}
	st.AccessRules["r1"] = &config.AccessRule{ID: "r1", Scope: config.ScopeZone, ScopeID: "z1", Mode: "block", Prefix: mp("198.51.100.0/24")}
	st.AccessRules["r2"] = &config.AccessRule{ID: "r2", Scope: config.ScopeZone, ScopeID: "z1", Mode: "whitelist", Prefix: mp("198.51.100.7/32")}
	st.AccessRules["r3"] = &config.AccessRule{ID: "r3", Scope: config.ScopeAccount, ScopeID: "acct", Mode: "managed_challenge", Prefix: mp("198.51.100.0/24")}
	s, err := config.Compile(st, now)
	if err != nil {
		t.Fatal(err)
	}
	n := &proxyNode{pool: []netip.Prefix{mp("192.0.2.0/24")}, log: slog.New(slog.DiscardHandler), capped: map[string]string{}}
	cfg, ports := n.build(s)

	tests := []struct {
		dst   string
		t     proxy.Transport
		port  uint16
		want  proxy.Verdict
		appID string
	}{
		{"203.0.113.18", proxy.TCP, 22, proxy.Serve, "s1"},
		{"::ffff:203.0.113.18", proxy.TCP, 22, proxy.Serve, "s1"},
		{"203.0.113.18", proxy.TCP, 3047, proxy.Serve, "s2"},
		{"203.0.113.18", proxy.TCP, 23, proxy.NoApp, ""},
		{"203.0.113.18", proxy.UDP, 22, proxy.NoApp, ""},
		{"203.0.113.19", proxy.TCP, 22, proxy.NoApp, ""},
		{"203.0.113.1", proxy.TCP, 22, proxy.NotServed, ""}, // CDN binding
		{"198.51.100.1", proxy.TCP, 22, proxy.NotServed, ""},
		{"192.0.2.77", proxy.UDP, 53, proxy.Serve, "s3"}, // dynamic, in the pool
		{"192.0.2.78", proxy.UDP, 53, proxy.NotServed, ""},
	}
	for _, tt := range tests {
		app, v := cfg.Table.Route(ma(tt.dst), tt.t, tt.port)
		var id string
		if app != nil {
			id = app.ID
		}
		if v != tt.want || id != tt.appID {
			t.Errorf("Route(%s, %v, %d) = (%q, %v), want (%q, %v)", tt.dst, tt.t, tt.port, id, v, tt.appID, tt.want)
		}
	}
	s1, _ := cfg.Table.Route(ma("203.0.113.18"), proxy.TCP, 22)
	s3, _ := cfg.Table.Route(ma("192.0.2.77"), proxy.UDP, 53)
	for _, tt := range []struct {
		app    *proxy.App
		client string
		allow  bool
	}{
		{s1, "192.0.2.9", true},
		{s1, "198.51.100.1", false}, // zone block
		{s1, "198.51.100.7", true},  // zone whitelist, more specific
		{s3, "198.51.100.1", false}, // no zone rule: the account's challenge
	} {
		if got := cfg.Firewall(tt.app, ma(tt.client)); got != tt.allow {
			t.Errorf("Firewall(%s, %s) = %v, want %v", tt.app.ID, tt.client, got, tt.allow)
		}
	}
	// s2's 2048-port range listens on its first maxListenPorts ports.
	if !ports[listenKey{proxy.TCP, 22}] || !ports[listenKey{proxy.UDP, 53}] || !ports[listenKey{proxy.TCP, 1000 + maxListenPorts - 1}] || ports[listenKey{proxy.TCP, 1000 + maxListenPorts}] {
		t.Errorf("listeners: missing tcp/22, udp/53 or tcp/%d, or has tcp/%d", 1000+maxListenPorts-1, 1000+maxListenPorts)
	}
	if len(ports) != 2+maxListenPorts {
		t.Errorf("%d listeners, want %d", len(ports), 2+maxListenPorts)
	}
	if n.capped["s2"] != "tcp/1000-3047" {
		t.Errorf("capped = %v, want s2 logged", n.capped)
	}
}

type listenersResult struct {
	API          string          `json:"api"`
	DNS          string          `json:"dns"`
	ProxyEnabled bool            `json:"proxy_enabled"`
	Proxy        []proxyListener `json:"proxy"`
}

// TestAdminListeners checks GET /admin/v1/listeners: the API and DNS
// addresses the node bound, and one entry per proxy listener the Spectrum
// apps want, open or with the error that kept it closed (here a TCP port
// another socket holds), following app creation and deletion.
func TestAdminListeners(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", ":0") // the wildcard port a proxy listener cannot get
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := uint16(busy.Addr().(*net.TCPAddr).Port)
	tcpPort, udpPort, dnsAddr := freeport.TCP(t), freeport.UDP(t), freeport.DNS(t)

	d := testDaemon(t, fmt.Sprintf(`listen: {proxy: true, dns: %q}
zones: [{id: %s, name: example.net, account_id: %s}]
`, dnsAddr, zoneNet, acctA))
	base := startNode(t, d)
	var v listenersResult
	call(t, base, "GET", "/admin/v1/listeners", "", &v)
	if v.API != strings.TrimPrefix(base, "http://") || v.DNS != dnsAddr || !v.ProxyEnabled || v.Proxy == nil || len(v.Proxy) != 0 {
		t.Errorf("listeners before any app: %+v, want api %s, dns %s, the proxy enabled with no listeners", v, strings.TrimPrefix(base, "http://"), dnsAddr)
	}

	o := onboard(t, base, "127.77.0.0/24", 64496, "127.77.0.16/29")
	o.patch(t, base, `{"on_demand":{"advertised":true}}`)
	app := func(name, protocol, ip, origin string) string {
		var a struct{ ID string }
		call(t, base, "POST", "/client/v4/zones/"+zoneNet+"/spectrum/apps", fmt.Sprintf(`{
			"protocol": %q, "dns": {"type": "ADDRESS", "name": %q},
			"edge_ips": {"type": "static", "ips": [%q]}, "origin_direct": [%q]}`, protocol, name, ip, origin), &a)
		return a.ID
	}
	app("l4.example.net", fmt.Sprintf("tcp/%d", tcpPort), "127.77.0.18", "tcp://192.0.2.1:22")
	app("dns.example.net", fmt.Sprintf("udp/%d", udpPort), "127.77.0.18", "udp://192.0.2.1:53")
	busyApp := app("busy.example.net", fmt.Sprintf("tcp/%d", busyPort), "127.77.0.19", "tcp://192.0.2.1:22")

	want := []proxyListener{
		{Transport: "tcp", Port: tcpPort, Open: true},
		{Transport: "tcp", Port: busyPort},
		{Transport: "udp", Port: udpPort, Open: true},
	}
	if busyPort < tcpPort {
		want[0], want[1] = want[1], want[0]
	}
	v = waitListeners(t, base, func(v listenersResult) bool { return len(v.Proxy) == 3 })
	for i := range v.Proxy {
		got := v.Proxy[i]
		if got.Port == busyPort {
			if !strings.Contains(got.Error, "address already in use") {
				t.Errorf("listener tcp/%d: error %q, want address already in use", busyPort, got.Error)
			}
			got.Error = ""
		}
		if got != want[i] {
			t.Errorf("listener %d: %+v, want %+v", i, v.Proxy[i], want[i])
		}
	}
	// What it says is open accepts connections.
	c, err := dialEdge(netip.AddrPortFrom(netip.MustParseAddr("127.77.0.18"), tcpPort))
	if err != nil {
		t.Errorf("dialing the open listener tcp/%d: %v", tcpPort, err)
	} else {
		c.Close()
	}

	// Deleting the app that wants the busy port drops its entry.
	call(t, base, "DELETE", "/client/v4/zones/"+zoneNet+"/spectrum/apps/"+busyApp, "", nil)
	v = waitListeners(t, base, func(v listenersResult) bool { return len(v.Proxy) == 2 })
	if v.Proxy[0] != (proxyListener{Transport: "tcp", Port: tcpPort, Open: true}) || v.Proxy[1] != (proxyListener{Transport: "udp", Port: udpPort, Open: true}) {
		t.Errorf("listeners after deleting the busy app: %+v, want tcp/%d and udp/%d open", v.Proxy, tcpPort, udpPort)
	}

	// Without DNS and the proxy only the API listens.
	base = startNode(t, testDaemon(t, ""))
	v = listenersResult{}
	call(t, base, "GET", "/admin/v1/listeners", "", &v)
	if v.API != strings.TrimPrefix(base, "http://") || v.DNS != "" || v.ProxyEnabled || v.Proxy == nil || len(v.Proxy) != 0 {
		t.Errorf("listeners of a node without dns and proxy: %+v, want the api alone", v)
	}
}

// waitListeners polls GET /admin/v1/listeners until cond holds (the proxy
// applies snapshots asynchronously).
func waitListeners(t *testing.T, base string, cond func(listenersResult) bool) listenersResult {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var v listenersResult
		call(t, base, "GET", "/admin/v1/listeners", "", &v)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("listeners: condition not met after 10s; last %+v", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
