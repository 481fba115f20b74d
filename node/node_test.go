package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/netnstest"
	"github.com/edgesim/edgesim/netlab"
)

const (
	acctA = "258def64c72dae45f3e4c8516e2111f2"
	acctB = "b1946ac92492d2347c6235b4d2611184"
)

// testDaemon is a config with instant timing and auto-valid validation.
func testDaemon(t testing.TB, extra string) *config.Daemon {
	t.Helper()
	y := fmt.Sprintf(`version: 1
state: {path: %q}
accounts: [{id: %s}, {id: %s}]
credentials: [{email: a@example.com, key: ka, accounts: [%s]}]
validation: {auto_valid: true}
timing: {time_factor: 0}
%s`, filepath.Join(t.TempDir(), "edgesim.db"), acctA, acctB, acctA, extra)
	d, err := config.Decode(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// startNode runs node.Run on a loopback listener and returns the API base URL.
func startNode(t testing.TB, d *config.Daemon) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- Run(ctx, Options{Daemon: d, Listener: ln, Ready: func(net.Addr) { close(ready) }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("node not ready after 20s")
	}
	return "http://" + ln.Addr().String()
}

// send sends an API request as account A's key.
func send(t testing.TB, base, method, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("X-Auth-Email", "a@example.com")
	req.Header.Set("X-Auth-Key", "ka")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// call sends an API request as account A's key and decodes the result.
func call(t testing.TB, base, method, path, body string, res any) {
	t.Helper()
	resp := send(t, base, method, path, body)
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

type onboarded struct{ prefixID, bgpID string }

// onboard walks the workflow for cidr up to an (unadvertised) BGP prefix:
// create, validate, wait for approval, default binding, Spectrum binding.
func onboard(t testing.TB, base, cidr string, asn int, spectrumCIDR string) onboarded {
	t.Helper()
	pfx := "/client/v4/accounts/" + acctA + "/addressing/prefixes"
	var p struct {
		ID       string `json:"id"`
		Approved string `json:"approved"`
	}
	call(t, base, "POST", pfx, fmt.Sprintf(`{"cidr":%q,"asn":%d}`, cidr, asn), &p)
	call(t, base, "POST", pfx+"/"+p.ID+"/validate", "", nil)
	for deadline := time.Now().Add(10 * time.Second); p.Approved != "V"; {
		if time.Now().After(deadline) {
			t.Fatalf("prefix %s not approved after 10s", cidr)
		}
		time.Sleep(10 * time.Millisecond)
		call(t, base, "GET", pfx+"/"+p.ID, "", &p)
	}
	var svcs []struct{ ID, Name string }
	call(t, base, "GET", "/client/v4/accounts/"+acctA+"/addressing/services", "", &svcs)
	ids := map[string]string{}
	for _, s := range svcs {
		ids[s.Name] = s.ID
	}
	call(t, base, "POST", pfx+"/"+p.ID+"/bindings", fmt.Sprintf(`{"cidr":%q,"service_id":%q}`, cidr, ids["CDN"]), nil)
	if spectrumCIDR != "" {
		call(t, base, "POST", pfx+"/"+p.ID+"/bindings", fmt.Sprintf(`{"cidr":%q,"service_id":%q}`, spectrumCIDR, ids["Spectrum"]), nil)
	}
	var bgps []struct{ ID, CIDR string }
	call(t, base, "GET", pfx+"/"+p.ID+"/bgp/prefixes", "", &bgps)
	if len(bgps) != 1 || bgps[0].CIDR != cidr {
		t.Fatalf("bgp prefixes after the default binding: %+v, want one for %s", bgps, cidr)
	}
	return onboarded{prefixID: p.ID, bgpID: bgps[0].ID}
}

func (o onboarded) patch(t *testing.T, base, body string) {
	t.Helper()
	call(t, base, "PATCH", "/client/v4/accounts/"+acctA+"/addressing/prefixes/"+o.prefixID+"/bgp/prefixes/"+o.bgpID, body, nil)
}

type lookupResult struct {
	Matched   bool   `json:"matched"`
	Route     string `json:"route"`
	Announced string `json:"announced"`
	Served    bool   `json:"served"`
	Binding   struct {
		Service string `json:"Service"`
		State   string `json:"State"`
	} `json:"binding"`
}

// waitLookup polls the admin lookup until cond holds (the reconciler
// publishes asynchronously).
func waitLookup(t *testing.T, base, ip string, cond func(lookupResult) bool) lookupResult {
	t.Helper()
	var r lookupResult
	for deadline := time.Now().Add(10 * time.Second); ; {
		r = lookupResult{}
		call(t, base, "GET", "/admin/v1/lookup/"+ip, "", &r)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("lookup %s: condition not met after 10s; last %+v", ip, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReconcilerPublishesAPIChanges drives the API and checks that the
// published snapshot (through the admin lookup) follows every change.
func TestReconcilerPublishesAPIChanges(t *testing.T) {
	t.Parallel()
	base := startNode(t, testDaemon(t, ""))
	r := waitLookup(t, base, "203.0.113.18", func(r lookupResult) bool { return true })
	if r.Matched {
		t.Fatalf("lookup before onboarding matched: %+v", r)
	}
	o := onboard(t, base, "203.0.113.0/24", 64496, "203.0.113.16/29")
	r = waitLookup(t, base, "203.0.113.18", func(r lookupResult) bool { return r.Route == "203.0.113.16/29" })
	if r.Binding.Service != "Spectrum" || r.Binding.State != "active" || r.Served {
		t.Errorf("after bindings: %+v, want the active Spectrum /29, not served (withdrawn)", r)
	}
	if r := waitLookup(t, base, "203.0.113.1", func(r lookupResult) bool { return r.Matched }); r.Route != "203.0.113.0/24" || r.Binding.Service != "CDN" {
		t.Errorf("203.0.113.1: %+v, want the CDN default binding", r)
	}
	o.patch(t, base, `{"on_demand":{"advertised":true}}`)
	r = waitLookup(t, base, "203.0.113.18", func(r lookupResult) bool { return r.Served })
	if r.Announced != "203.0.113.0/24" {
		t.Errorf("after advertise: announced %q, want 203.0.113.0/24", r.Announced)
	}
	o.patch(t, base, `{"on_demand":{"advertised":false}}`)
	waitLookup(t, base, "203.0.113.18", func(r lookupResult) bool { return !r.Served && r.Announced == "" })

	// Bad input gets the envelope and a code.
	req, _ := http.NewRequest("GET", base+"/admin/v1/lookup/not-an-ip", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("lookup of a bad IP: HTTP %d %q, want 400 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestRestartKeepsState stops a node and starts another on the same state
// file: the snapshot it publishes is the same.
func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	d := testDaemon(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Daemon: d, Listener: ln, Ready: func(net.Addr) { close(ready) }}) }()
	<-ready
	base := "http://" + ln.Addr().String()
	o := onboard(t, base, "2001:db8:100::/48", 13335, "")
	o.patch(t, base, `{"on_demand":{"advertised":true}}`)
	waitLookup(t, base, "2001:db8:100::1", func(r lookupResult) bool { return r.Served })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	base = startNode(t, d)
	r := waitLookup(t, base, "2001:db8:100::1", func(r lookupResult) bool { return r.Matched })
	if !r.Served || r.Announced != "2001:db8:100::/48" {
		t.Errorf("after restart: %+v, want served under the announced /48", r)
	}
}

// TestNetnsEdgedAnnouncesToFRR peers the node's speaker with FRR in a
// network namespace and drives everything through the API: FRR learns the
// advertised prefixes with the documented AS path and communities, the
// prepend count shows, and a withdrawal removes them. A prefix that is
// onboarded but not advertised never reaches FRR.
func TestNetnsEdgedAnnouncesToFRR(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "vtysh")
	netnstest.RequireBinary(t, netlab.FRRBinDir+"/bgpd")
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		ns, err := lab.AddNetns("frr")
		if err != nil {
			t.Fatal(err)
		}
		lk, err := lab.LinkHost(ns)
		if err != nil {
			t.Fatal(err)
		}
		edge4, edge6, peer4, peer6 := lk.A4.Addr(), lk.A6.Addr(), lk.B4.Addr(), lk.B6.Addr()
		conf := fmt.Sprintf(`frr defaults traditional
hostname peer
log stdout informational
!
router bgp 65001
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor %s remote-as 13335
 neighbor %s timers 3 9
 neighbor %s timers connect 1
 neighbor %s remote-as 13335
 neighbor %s timers 3 9
 neighbor %s timers connect 1
 address-family ipv4 unicast
  neighbor %s activate
 exit-address-family
 address-family ipv6 unicast
  neighbor %s activate
 exit-address-family
`, peer4, edge4, edge4, edge4, edge6, edge6, edge6, edge4, edge6)
		frr, err := lab.StartFRR(t.Context(), ns, "frr", conf, false)
		if err != nil {
			t.Fatal(err)
		}
		d := testDaemon(t, fmt.Sprintf(`anycast_pool: ["192.0.2.0/24", "2001:db8:ff::/48"]
bgp:
  router_id: %s
  communities: ["13335:100"]
  large_communities: ["13335:1:2"]
  next_hop6: %s
  peers:
    - {address: %s, peer_as: 65001, hold_time: 9s, keepalive: 3s, connect_retry: 1s}
    - {address: %s, peer_as: 65001, hold_time: 9s, keepalive: 3s, connect_retry: 1s}
`, edge4, edge6, peer4, peer6))
		base := startNode(t, d)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		for _, a := range []netip.Addr{edge4, edge6} {
			if err := frr.WaitEstablished(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		v4 := onboard(t, base, "203.0.113.0/24", 64496, "")
		v6 := onboard(t, base, "2001:db8:100::/48", 13335, "")
		quiet := onboard(t, base, "198.51.100.0/24", 13335, "") // onboarded, never advertised
		_ = quiet
		v4.patch(t, base, `{"on_demand":{"advertised":true}}`)
		v6.patch(t, base, `{"on_demand":{"advertised":true}}`)

		r := waitFRR(t, frr, netip.MustParsePrefix("203.0.113.0/24"), "13335 64496")
		if r.Communities != "13335:100" || r.LargeCommunities != "13335:1:2" {
			t.Errorf("FRR 203.0.113.0/24: communities %q, large %q; want 13335:100 and 13335:1:2", r.Communities, r.LargeCommunities)
		}
		r = waitFRR(t, frr, netip.MustParsePrefix("2001:db8:100::/48"), "13335")
		if len(r.NextHops) == 0 || r.NextHops[0] != edge6.String() {
			t.Errorf("FRR 2001:db8:100::/48: next hops %v, want %s first", r.NextHops, edge6)
		}
		// The edge's own anycast pool is announced from 13335 alone.
		waitFRR(t, frr, netip.MustParsePrefix("192.0.2.0/24"), "13335")
		waitFRR(t, frr, netip.MustParsePrefix("2001:db8:ff::/48"), "13335")
		v4.patch(t, base, `{"asn_prepend_count":2}`)
		waitFRR(t, frr, netip.MustParsePrefix("203.0.113.0/24"), "13335 13335 13335 64496")

		if rs, err := frr.Route(t.Context(), netip.MustParsePrefix("198.51.100.0/24")); err != nil || len(rs) != 0 {
			t.Errorf("FRR has the unadvertised 198.51.100.0/24: %+v (err %v)", rs, err)
		}

		v4.patch(t, base, `{"on_demand":{"advertised":false}}`)
		v6.patch(t, base, `{"on_demand":{"advertised":false}}`)
		waitFRR(t, frr, netip.MustParsePrefix("203.0.113.0/24"), "")
		waitFRR(t, frr, netip.MustParsePrefix("2001:db8:100::/48"), "")

		var st struct {
			Enabled bool
			Peers   []struct {
				State string `json:"state"`
			} `json:"peers"`
		}
		call(t, base, "GET", "/admin/v1/bgp", "", &st)
		if !st.Enabled || len(st.Peers) != 2 || st.Peers[0].State != "established" {
			t.Errorf("admin bgp status: %+v, want 2 established peers", st)
		}
	})
}

// waitFRR waits until FRR holds p with AS path aspath ("" = until FRR no
// longer holds p) and returns the route.
func waitFRR(t *testing.T, frr *netlab.FRR, p netip.Prefix, aspath string) netlab.FRRRoute {
	t.Helper()
	var last []netlab.FRRRoute
	for deadline := time.Now().Add(15 * time.Second); ; {
		rs, err := frr.Route(t.Context(), p)
		last = rs
		if err == nil {
			if aspath == "" && len(rs) == 0 {
				return netlab.FRRRoute{}
			}
			for _, r := range rs {
				if aspath != "" && r.ASPath == aspath {
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("FRR %s: want AS path %q, have %+v (err %v)", p, aspath, last, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
