package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/edgesim/edgesim/internal/freeport"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/bgp"
	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/node"
)

// fakeEdged answers the admin endpoints edgectl calls with canned envelopes.
func fakeEdged(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	reply := func(result string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"success":true,"errors":[],"messages":[],"result":` + result + `}`))
		}
	}
	mux.HandleFunc("GET /admin/v1/lookup/203.0.113.18", reply(`{"ip":"203.0.113.18","matched":true,"route":"203.0.113.16/29",
		"binding":{"CIDR":"203.0.113.16/29","Service":"Spectrum","BindingID":"b1","PrefixID":"p1","AccountID":"a1","State":"active"},
		"announced":"203.0.113.0/24","served":true,"generation":7}`))
	mux.HandleFunc("GET /admin/v1/state", reply(`{"now":"2026-11-29T16:08:17Z","state":`+fakeState(t)+`}`))
	mux.HandleFunc("GET /admin/v1/snapshot", reply(`{"generation":9,"bindings":[
		{"CIDR":"203.0.113.0/24","Service":"CDN","BindingID":"b0","PrefixID":"p1","AccountID":"a1","State":"active"},
		{"CIDR":"203.0.113.16/29","Service":"Spectrum","BindingID":"b1","PrefixID":"p1","AccountID":"a1","State":"active"}],
		"announcements":[{"CIDR":"203.0.113.0/24","BGPPrefixID":"g1","PrefixID":"p1","ASN":64496,"ASNPrependCount":1}]}`))
	mux.HandleFunc("GET /admin/v1/bgp", reply(`{"enabled":true,"peers":[
		{"address":"192.0.2.10","peer_as":65001,"state":"established","uptime_seconds":3725,"prefixes_sent":2,"prefixes_received":1},
		{"address":"2001:db8::10","peer_as":65002,"state":"active","uptime_seconds":0,"prefixes_sent":0,"prefixes_received":0,
		 "last_error":"dial tcp [2001:db8::10]:179: connect: connection refused"}]}`))
	mux.HandleFunc("GET /admin/v1/listeners", reply(`{"api":"127.0.0.1:8080","dns":"127.0.0.1:8053","proxy_enabled":true,"proxy":[
		{"transport":"tcp","port":22,"open":true},
		{"transport":"tcp","port":8443,"open":false,"error":"listening on tcp \"[::]:8443\": address already in use\nlistening on tcp \"0.0.0.0:8443\": address already in use"},
		{"transport":"udp","port":1000,"open":true},{"transport":"udp","port":1001,"open":true},
		{"transport":"udp","port":1002,"open":true},{"transport":"udp","port":1003,"open":true}]}`))
	mux.HandleFunc("GET /admin/v1/lookup/192.0.2.1", reply(`{"ip":"192.0.2.1","matched":false,"served":false,"generation":7}`))
	mux.HandleFunc("POST /admin/v1/clock/fast-forward", reply(`{"now":"2026-11-29T16:00:00Z","offset":"5h0m0s"}`))
	mux.HandleFunc("GET /admin/v1/lookup/2001:db8::1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		w.Write([]byte(`{"success":false,"errors":[{"code":1000,"message":"internal error"}],"messages":[],"result":null}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// fakeState is the JSON of a state with one onboarded, advertised prefix
// and two Spectrum apps: a static one with a direct origin and a dynamic
// one with a DNS origin in a zone without a name.
func fakeState(t *testing.T) string {
	t.Helper()
	mp, ma := netip.MustParsePrefix, netip.MustParseAddr
	st := config.NewState()
	st.Prefixes["p1"] = &config.Prefix{ID: "p1", AccountID: "a1", CIDR: mp("203.0.113.0/24"), ASN: 64496, Approved: true,
		Validation: config.Validation{IRR: config.StateValid, RPKI: config.StateValid, Ownership: config.StateValid}}
	st.BGPPrefixes["g1"] = &config.BGPPrefix{ID: "g1", PrefixID: "p1", CIDR: mp("203.0.113.0/24"), Advertised: true, ASNPrependCount: 1}
	st.SpectrumApps["app-ssh"] = &config.SpectrumApp{ID: "app-ssh", ZoneID: "z1", ZoneName: "example.com", Protocol: "tcp/22",
		DNS:          config.SpectrumDNS{Type: config.DNSTypeAddress, Name: "ssh.example.com"},
		EdgeIPs:      config.SpectrumEdgeIPs{Type: config.EdgeIPsStatic, IPs: []netip.Addr{ma("203.0.113.18"), ma("203.0.113.19")}},
		OriginDirect: []string{"tcp://192.0.2.1:22"}, ProxyProtocol: "v2", IPFirewall: true}
	st.SpectrumApps["app-game"] = &config.SpectrumApp{ID: "app-game", ZoneID: "z2", Protocol: "udp/1000-1003",
		DNS:       config.SpectrumDNS{Type: config.DNSTypeCNAME, Name: "game.example.net"},
		EdgeIPs:   config.SpectrumEdgeIPs{Type: config.EdgeIPsDynamic, Connectivity: "ipv4", IPs: []netip.Addr{ma("198.51.100.7")}},
		OriginDNS: &config.OriginDNS{Name: "origin.example.net"}, OriginPort: &config.PortRange{Low: 2000, High: 2003}, ProxyProtocol: "simple"}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEdgectl(t *testing.T) {
	t.Parallel()
	srv := fakeEdged(t)
	tests := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"lookup", "203.0.113.18"}, 0, []string{"203.0.113.16/29", "Spectrum", "announced      203.0.113.0/24", "served         true"}},
		{[]string{"lookup", "192.0.2.1"}, 0, []string{"no binding covers it"}},
		{[]string{"lookup", "2001:db8::1"}, 1, []string{"HTTP 500", "internal error (code 1000)"}},
		{[]string{"lookup", "not-an-ip"}, 1, []string{`not an IP address: "not-an-ip"`}},
		{[]string{"fast-forward", "5h"}, 0, []string{"clock now 2026-11-29T16:00:00Z (fast-forwarded 5h0m0s in all)"}},
		{[]string{"fast-forward", "soon"}, 1, []string{"not a duration"}},
		{[]string{"frobnicate"}, 2, []string{"unknown command", "Commands:"}},
		{[]string{"lookup"}, 2, []string{"wrong arguments"}},
		{[]string{"-o", "yaml", "status"}, 2, []string{"-o must be table or json"}},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(append([]string{"-api", srv.URL}, tt.args...), &out, &errOut)
		all := out.String() + errOut.String()
		if code != tt.code {
			t.Errorf("edgectl %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.code, all)
		}
		for _, want := range tt.contains {
			if !strings.Contains(all, want) {
				t.Errorf("edgectl %s: output lacks %q:\n%s", strings.Join(tt.args, " "), want, all)
			}
		}
	}
	var out bytes.Buffer
	if code := run([]string{"-api", srv.URL, "-o", "json", "lookup", "203.0.113.18"}, &out, &out); code != 0 {
		t.Fatalf("-o json lookup: exit %d\n%s", code, out.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v["served"] != true {
		t.Errorf("-o json lookup: %v, %v", v, err)
	}
}

// TestEdgectlStatus checks the whole status table against the fake edged:
// every section, peers up and down, apps static and dynamic, and proxy
// listeners open, failed and collapsed into port ranges.
func TestEdgectlStatus(t *testing.T) {
	t.Parallel()
	srv := fakeEdged(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"-api", srv.URL, "status"}, &out, &errOut); code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut.String())
	}
	want := `PREFIX          ACCOUNT  ASN    APPROVED  IRR    RPKI   OWNERSHIP
203.0.113.0/24  a1       64496  V         valid  valid  valid

BINDING          SERVICE   STATE
203.0.113.0/24   CDN       active
203.0.113.16/29  Spectrum  active

BGP PREFIX      ADVERTISED (requested)  ANNOUNCED (at the edge)  PREPEND
203.0.113.0/24  true                    true                     1

BGP PEER      AS     STATE        UPTIME  SENT  RECEIVED  LAST ERROR
192.0.2.10    65001  established  1h2m5s  2     1         -
2001:db8::10  65002  active       -       0     0         dial tcp [2001:db8::10]:179: connect: connection refused

SPECTRUM APP  ZONE         PROTOCOL       DNS NAME          EDGE IPS                   ORIGINS                           PROXY PROTOCOL  IP FIREWALL
app-game      z2           udp/1000-1003  game.example.net  198.51.100.7 (dynamic)     dns:origin.example.net:2000-2003  simple          false
app-ssh       example.com  tcp/22         ssh.example.com   203.0.113.18,203.0.113.19  tcp://192.0.2.1:22                v2              true

LISTENER   ADDRESS         STATE
api        127.0.0.1:8080  open
dns        127.0.0.1:8053  open (udp and tcp)
proxy tcp  *:22            open
proxy tcp  *:8443          failed: listening on tcp "[::]:8443": address already in use; listening on tcp "0.0.0.0:8443": address already in use
proxy udp  *:1000-1003     open

snapshot generation 9 at 2026-11-29T16:08:17Z
`
	if got := out.String(); got != want {
		t.Errorf("status:\n%s\nwant:\n%s", got, want)
	}

	out.Reset()
	if code := run([]string{"-api", srv.URL, "-o", "json", "status"}, &out, &errOut); code != 0 {
		t.Fatalf("-o json status: exit %d\n%s", code, errOut.String())
	}
	var v struct {
		State struct {
			State config.State `json:"state"`
		} `json:"state"`
		Snapshot  snapshotResult  `json:"snapshot"`
		BGP       bgpResult       `json:"bgp"`
		Listeners listenersResult `json:"listeners"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("-o json status: %v\n%s", err, out.String())
	}
	if v.State.State.SpectrumApps["app-ssh"] == nil || v.Snapshot.Generation != 9 || len(v.BGP.Peers) != 2 || v.BGP.Peers[0].State != "established" ||
		v.Listeners.DNS != "127.0.0.1:8053" || len(v.Listeners.Proxy) != 6 || v.Listeners.Proxy[1].Open {
		t.Errorf("-o json status lacks the state, snapshot, bgp or listeners:\n%s", out.String())
	}
}

func TestEdgectlNoServer(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run([]string{"-api", "http://127.0.0.1:1", "status"}, &out, &out); code != 1 || !strings.Contains(out.String(), "is edged running?") {
		t.Errorf("status without edged: exit %d\n%s", code, out.String())
	}
}

const (
	acctA  = "258def64c72dae45f3e4c8516e2111f2"
	zoneEx = "023e105f4ecef8ad9ca31a8372d0c353" // example.com, account A
)

// startEdged runs an edge in-process (node.Run, as edged does) on a
// loopback API listener with DNS on dnsAddr, the proxy, and one BGP peer
// at 127.0.0.1:bgpPort, and returns the API base URL.
func startEdged(t *testing.T, dnsAddr string, bgpPort uint16) string {
	t.Helper()
	d, err := config.Decode(strings.NewReader(fmt.Sprintf(`version: 1
listen: {dns: %q, proxy: true}
state: {path: %q}
accounts: [{id: %s}]
zones: [{id: %s, name: example.com, account_id: %s}]
credentials: [{email: a@example.com, key: ka, accounts: [%s]}]
validation: {auto_valid: true}
timing: {time_factor: 0}
bgp:
  router_id: 192.0.2.1
  peers: [{address: 127.0.0.1, peer_as: 65001, port: %d, hold_time: 9s, keepalive: 3s, connect_retry: 1s}]
`, dnsAddr, filepath.Join(t.TempDir(), "edgesim.db"), acctA, zoneEx, acctA, acctA, bgpPort)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- node.Run(ctx, node.Options{Daemon: d, Listener: ln, Ready: func(net.Addr) { close(ready) }, DrainTimeout: time.Second})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node.Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("node.Run returned before ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("edge not ready after 20s")
	}
	return "http://" + ln.Addr().String()
}

// startPeer runs a second BGP speaker (AS 65001) on 127.0.0.1:port that
// accepts the edge's session and announces 192.0.2.0/24 to it.
func startPeer(t *testing.T, port uint16) {
	t.Helper()
	sp, err := bgp.New(bgp.Options{RouterID: netip.MustParseAddr("192.0.2.2"), LocalAS: 65001,
		ListenPort: int(port), ListenAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(context.Background()) })
	ctx := t.Context()
	if err := sp.SetPeers(ctx, []bgp.PeerConfig{{Address: netip.MustParseAddr("127.0.0.1"), PeerAS: bgp.DefaultLocalAS,
		Passive: true, HoldTime: 9 * time.Second, KeepaliveInterval: 3 * time.Second, ConnectRetry: time.Second}}); err != nil {
		t.Fatal(err)
	}
	if err := sp.Sync(ctx, []bgp.Route{{Prefix: netip.MustParsePrefix("192.0.2.0/24")}}); err != nil {
		t.Fatal(err)
	}
}

// apiCall sends an API request with account A's key and decodes the result.
func apiCall(t *testing.T, base, method, path, body string, res any) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("X-Auth-Email", "a@example.com")
	req.Header.Set("X-Auth-Key", "ka")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	var env struct{ Result json.RawMessage }
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if res != nil {
		if err := json.Unmarshal(env.Result, res); err != nil {
			t.Fatalf("%s %s: decoding result: %v", method, path, err)
		}
	}
}

// TestEdgectlStatusLive runs edgectl status against a real edge with a
// BGP peer: after onboarding and advertising a prefix and creating two
// Spectrum apps (one on a port another socket holds), status shows the
// established session with what it sent and received, the apps, and the
// listeners, the blocked one failed.
func TestEdgectlStatusLive(t *testing.T) {
	t.Parallel()
	bgpPort := freeport.TCP(t)
	startPeer(t, bgpPort)
	dnsAddr := freeport.DNS(t)
	base := startEdged(t, dnsAddr, bgpPort)

	// Onboard 203.0.113.0/24: validate, bind (CDN, then Spectrum for a /29), advertise.
	pfx := "/client/v4/accounts/" + acctA + "/addressing/prefixes"
	var p struct{ ID, Approved string }
	apiCall(t, base, "POST", pfx, `{"cidr":"203.0.113.0/24","asn":64496}`, &p)
	apiCall(t, base, "POST", pfx+"/"+p.ID+"/validate", "", nil)
	for deadline := time.Now().Add(10 * time.Second); p.Approved != "V"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("prefix not approved after 10s")
		}
		apiCall(t, base, "GET", pfx+"/"+p.ID, "", &p)
	}
	var svcs []struct{ ID, Name string }
	apiCall(t, base, "GET", "/client/v4/accounts/"+acctA+"/addressing/services", "", &svcs)
	svc := map[string]string{}
	for _, s := range svcs {
		svc[s.Name] = s.ID
	}
	apiCall(t, base, "POST", pfx+"/"+p.ID+"/bindings", fmt.Sprintf(`{"cidr":"203.0.113.0/24","service_id":%q}`, svc["CDN"]), nil)
	apiCall(t, base, "POST", pfx+"/"+p.ID+"/bindings", fmt.Sprintf(`{"cidr":"203.0.113.16/29","service_id":%q}`, svc["Spectrum"]), nil)
	var bgps []struct{ ID string }
	apiCall(t, base, "GET", pfx+"/"+p.ID+"/bgp/prefixes", "", &bgps)
	apiCall(t, base, "PATCH", pfx+"/"+p.ID+"/bgp/prefixes/"+bgps[0].ID, `{"on_demand":{"advertised":true}}`, nil)

	busy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort, sshPort := busy.Addr().(*net.TCPAddr).Port, freeport.TCP(t)
	var app struct{ ID string }
	apiCall(t, base, "POST", "/client/v4/zones/"+zoneEx+"/spectrum/apps", fmt.Sprintf(`{"protocol":"tcp/%d",
		"dns":{"type":"ADDRESS","name":"ssh.example.com"},"edge_ips":{"type":"static","ips":["203.0.113.18"]},
		"origin_direct":["tcp://192.0.2.1:22"],"proxy_protocol":"v2","ip_firewall":true}`, sshPort), &app)
	apiCall(t, base, "POST", "/client/v4/zones/"+zoneEx+"/spectrum/apps", fmt.Sprintf(`{"protocol":"tcp/%d",
		"dns":{"type":"ADDRESS","name":"busy.example.com"},"edge_ips":{"type":"static","ips":["203.0.113.19"]},
		"origin_direct":["tcp://192.0.2.1:22"]}`, busyPort), nil)

	// Wait until the session carries the announcement both ways and the
	// proxy tried both listeners.
	var js struct {
		BGP       bgpResult       `json:"bgp"`
		Listeners listenersResult `json:"listeners"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var out, errOut bytes.Buffer
		if code := run([]string{"-api", base, "-o", "json", "status"}, &out, &errOut); code != 0 {
			t.Fatalf("-o json status: exit %d\n%s", code, errOut.String())
		}
		if err := json.Unmarshal(out.Bytes(), &js); err != nil {
			t.Fatal(err)
		}
		if ps := js.BGP.Peers; len(ps) == 1 && ps[0].State == "established" && ps[0].PrefixesSent == 1 && ps[0].PrefixesReceived == 1 && len(js.Listeners.Proxy) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after 30s: %+v", js)
		}
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"-api", base, "status"}, &out, &errOut); code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut.String())
	}
	// Compare rows with their padding collapsed to one space.
	got := regexp.MustCompile(` +`).ReplaceAllString(out.String(), " ")
	for _, want := range []string{
		"203.0.113.0/24 true true 0\n",
		"BGP PEER AS STATE UPTIME SENT RECEIVED LAST ERROR\n",
		"SPECTRUM APP ZONE PROTOCOL DNS NAME EDGE IPS ORIGINS PROXY PROTOCOL IP FIREWALL\n",
		fmt.Sprintf("\n%s example.com tcp/%d ssh.example.com 203.0.113.18 tcp://192.0.2.1:22 v2 true\n", app.ID, sshPort),
		fmt.Sprintf(" example.com tcp/%d busy.example.com 203.0.113.19 tcp://192.0.2.1:22 off false\n", busyPort),
		"LISTENER ADDRESS STATE\n",
		fmt.Sprintf("\napi %s open\n", strings.TrimPrefix(base, "http://")),
		fmt.Sprintf("\ndns %s open (udp and tcp)\n", dnsAddr),
		fmt.Sprintf("\nproxy tcp *:%d open\n", sshPort),
		fmt.Sprintf("\nproxy tcp *:%d failed: ", busyPort),
		"address already in use",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	// Sent: 203.0.113.0/24; received: the peer's 192.0.2.0/24.
	if peer := `\n127\.0\.0\.1 65001 established \d+s 1 1 -\n`; !regexp.MustCompile(peer).MatchString(got) {
		t.Errorf("status lacks the peer row %s:\n%s", peer, out.String())
	}
}
