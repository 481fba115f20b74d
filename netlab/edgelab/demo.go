package edgelab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/netlab"
)

// The demo's addresses: account A's prefix, the /29 bound to Spectrum, the
// address delegated to account B (its apps' edge IP) and the address map's
// address for A's proxied hostname.
var (
	DemoPrefix    = netip.MustParsePrefix("203.0.113.0/24")
	DemoSpectrum  = netip.MustParsePrefix("203.0.113.16/29")
	DemoDelegated = netip.MustParseAddr("203.0.113.18")
	DemoMapped    = netip.MustParseAddr("203.0.113.1")
)

// Demo names of the apps and the proxied record.
const (
	SSHName  = "ssh.example.com"
	EchoName = "echo.example.com"
	WWWName  = "www.example.net"
)

// Demo walks the product's BYOIP workflow against a lab's edged through its
// HTTP API only, as a user's script would: account A onboards DemoPrefix
// (validation against the lab registry), delegates DemoDelegated to account
// B, binds the prefix to CDN and DemoSpectrum to Spectrum, advertises it;
// account B puts a TCP and a UDP Spectrum app on the delegated address, and
// A maps a proxied hostname onto its own address. Each step is a method so
// tests can check the data plane in between.
type Demo struct {
	API     string // http://host:port
	IRRFile string // the lab registry's RPSL file (the ownership token goes here)

	A, B        party
	PrefixID    string
	BGPPrefixID string
	http        *http.Client
	originAddr  netip.Addr
}

type party struct {
	Account, Zone, Email, Key string
}

// NewDemo returns the demo workflow for l, with the demo config's accounts
// and credentials.
func (l *Lab) NewDemo() *Demo {
	d := config.Demo()
	who := func(i int) party {
		p := party{Account: d.Accounts[i].ID}
		for _, z := range d.Zones {
			if z.AccountID == p.Account {
				p.Zone = z.ID
				break
			}
		}
		for _, c := range d.Credentials {
			if c.Email != "" && len(c.Accounts) == 1 && c.Accounts[0] == p.Account {
				p.Email, p.Key = c.Email, c.Key
				break
			}
		}
		return p
	}
	return &Demo{
		API: l.API, IRRFile: filepath.Join(l.Dir, "registry", "irr.rpsl"),
		A: who(0), B: who(1), originAddr: l.OriginAddr,
		http: &http.Client{Timeout: 10 * time.Second},
	}
}

// Load runs every step, unless the state already has the demo prefix (a
// lab brought up again on its kept state); it reports each step to w.
func (d *Demo) Load(ctx context.Context, w io.Writer) error {
	var list []struct {
		ID   string `json:"id"`
		CIDR string `json:"cidr"`
	}
	if err := d.call(ctx, d.A, "GET", "/accounts/"+d.A.Account+"/addressing/prefixes", nil, &list); err != nil {
		return err
	}
	for _, p := range list {
		if p.CIDR == DemoPrefix.String() {
			fmt.Fprintf(w, "lab: the state already has %s (kept from the last run; `edgectl lab down -wipe` starts over)\n", DemoPrefix)
			d.PrefixID = p.ID
			return d.lookupBGPPrefix(ctx)
		}
	}
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"account A onboards " + DemoPrefix.String() + " (IRR, RPKI and ownership validation)", d.Onboard},
		{"account A delegates " + DemoDelegated.String() + " to account B", d.Delegate},
		{"binding " + DemoPrefix.String() + " to CDN and " + DemoSpectrum.String() + " to Spectrum (fast-forwarding provisioning)", d.Bind},
		{"advertising " + DemoPrefix.String(), func(ctx context.Context) error { return d.Advertise(ctx, true) }},
		{"account B creates Spectrum apps on " + DemoDelegated.String() + ": tcp/22 (PROXY v2) and udp/7 (SPP)", d.Apps},
		{"account A maps " + WWWName + " onto " + DemoMapped.String() + " (address map)", d.AddressMap},
	}
	for _, s := range steps {
		fmt.Fprintf(w, "lab: demo: %s\n", s.what)
		if err := s.do(ctx); err != nil {
			return fmt.Errorf("demo: %s: %w", s.what, err)
		}
	}
	return nil
}

// Onboard adds DemoPrefix for account A, puts its ownership token in the IRR
// route object, validates, and waits until the prefix is approved.
func (d *Demo) Onboard(ctx context.Context) error {
	var p struct {
		ID    string `json:"id"`
		Token string `json:"ownership_validation_token"`
	}
	if err := d.call(ctx, d.A, "POST", "/accounts/"+d.A.Account+"/addressing/prefixes",
		map[string]any{"cidr": DemoPrefix.String(), "asn": EdgeAS, "delegate_loa_creation": true, "description": "lab prefix"}, &p); err != nil {
		return err
	}
	d.PrefixID = p.ID
	if err := addOwnershipToken(d.IRRFile, DemoPrefix, p.Token); err != nil {
		return err
	}
	if err := d.call(ctx, d.A, "POST", d.prefixPath("/validate"), nil, nil); err != nil {
		return err
	}
	return d.poll(ctx, "the prefix to be approved", func() (bool, error) {
		var got struct {
			Approved string `json:"approved"`
		}
		err := d.call(ctx, d.A, "GET", d.prefixPath(""), nil, &got)
		return got.Approved == "V", err
	})
}

// addOwnershipToken adds "remarks: cf-validation: TOKEN" to the route object
// of p in an RPSL file, as a prefix owner does in their IRR.
func addOwnershipToken(file string, p netip.Prefix, token string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`(?m)^route6?:\s*` + regexp.QuoteMeta(p.String()) + `\s*$`)
	loc := re.FindIndex(b)
	if loc == nil {
		return fmt.Errorf("%s has no route object for %s", file, p)
	}
	line := []byte("\nremarks:        cf-validation: " + token)
	b = append(b[:loc[1]:loc[1]], append(line, b[loc[1]:]...)...)
	return os.WriteFile(file, b, 0o644)
}

// Delegate delegates DemoDelegated/32 to account B.
func (d *Demo) Delegate(ctx context.Context) error {
	return d.call(ctx, d.A, "POST", d.prefixPath("/delegations"),
		map[string]any{"cidr": netip.PrefixFrom(DemoDelegated, 32).String(), "delegated_account_id": d.B.Account}, nil)
}

// Bind binds DemoPrefix to CDN and DemoSpectrum to Spectrum, fast-forwards
// the lab clock past the provisioning delay and waits until both are active.
func (d *Demo) Bind(ctx context.Context) error {
	var services []struct{ ID, Name string }
	if err := d.call(ctx, d.A, "GET", "/accounts/"+d.A.Account+"/addressing/services", nil, &services); err != nil {
		return err
	}
	ids := map[string]string{}
	for _, s := range services {
		ids[s.Name] = s.ID
	}
	for _, b := range []struct {
		cidr    netip.Prefix
		service string
	}{{DemoPrefix, "CDN"}, {DemoSpectrum, "Spectrum"}} {
		if ids[b.service] == "" {
			return fmt.Errorf("no %s service", b.service)
		}
		if err := d.call(ctx, d.A, "POST", d.prefixPath("/bindings"), map[string]any{"cidr": b.cidr.String(), "service_id": ids[b.service]}, nil); err != nil {
			return err
		}
	}
	if err := d.FastForward(ctx, "6h"); err != nil {
		return err
	}
	return d.poll(ctx, "the bindings to be active", func() (bool, error) {
		var bs []struct {
			Provisioning struct{ State string } `json:"provisioning"`
		}
		if err := d.call(ctx, d.A, "GET", d.prefixPath("/bindings"), nil, &bs); err != nil {
			return false, err
		}
		for _, b := range bs {
			if b.Provisioning.State != "active" {
				return false, nil
			}
		}
		return len(bs) == 2, nil
	})
}

// FastForward advances the lab clock by dur (a Go duration).
func (d *Demo) FastForward(ctx context.Context, dur string) error {
	return d.do(ctx, d.A, "POST", d.API+"/admin/v1/clock/fast-forward", map[string]any{"duration": dur}, nil)
}

// Advertise sets on_demand.advertised of the prefix's BGP prefix.
func (d *Demo) Advertise(ctx context.Context, on bool) error {
	if d.BGPPrefixID == "" {
		if err := d.lookupBGPPrefix(ctx); err != nil {
			return err
		}
	}
	return d.call(ctx, d.A, "PATCH", d.prefixPath("/bgp/prefixes/"+d.BGPPrefixID),
		map[string]any{"on_demand": map[string]any{"advertised": on}}, nil)
}

// Advertised reports whether the demo prefix's BGP prefix is advertised
// (in the API's state; the edge announces it after the advertise delay).
func (d *Demo) Advertised(ctx context.Context) (bool, error) {
	var p struct {
		Advertised *bool `json:"advertised"`
	}
	err := d.call(ctx, d.A, "GET", d.prefixPath(""), nil, &p)
	return p.Advertised != nil && *p.Advertised, err
}

// lookupBGPPrefix sets BGPPrefixID: the demo prefix's BGP prefix.
func (d *Demo) lookupBGPPrefix(ctx context.Context) error {
	var bps []struct{ ID string }
	if err := d.call(ctx, d.A, "GET", d.prefixPath("/bgp/prefixes"), nil, &bps); err != nil {
		return err
	}
	if len(bps) == 0 {
		return errors.New("the prefix has no BGP prefix (no default binding?)")
	}
	d.BGPPrefixID = bps[0].ID
	return nil
}

// Apps creates account B's Spectrum apps on DemoDelegated: SSHName on
// tcp/22 with PROXY v2 and the IP firewall, EchoName on udp/7 with SPP,
// both to the lab's origin.
func (d *Demo) Apps(ctx context.Context) error {
	edge := map[string]any{"type": "static", "ips": []string{DemoDelegated.String()}}
	apps := []map[string]any{
		{"protocol": fmt.Sprintf("tcp/%d", SSHPort), "dns": map[string]any{"type": "ADDRESS", "name": SSHName},
			"origin_direct": []string{fmt.Sprintf("tcp://%s:%d", d.originAddr, SSHPort)}, "proxy_protocol": "v2",
			"ip_firewall": true, "traffic_type": "direct", "edge_ips": edge},
		{"protocol": fmt.Sprintf("udp/%d", EchoPort), "dns": map[string]any{"type": "ADDRESS", "name": EchoName},
			"origin_direct": []string{fmt.Sprintf("udp://%s:%d", d.originAddr, EchoPort)}, "proxy_protocol": "simple",
			"traffic_type": "direct", "edge_ips": edge},
	}
	for _, a := range apps {
		if err := d.call(ctx, d.B, "POST", "/zones/"+d.B.Zone+"/spectrum/apps", a, nil); err != nil {
			return err
		}
	}
	return nil
}

// AddressMap adds account A's proxied record WWWName and an address map
// that makes DNS answer it with DemoMapped.
func (d *Demo) AddressMap(ctx context.Context) error {
	if err := d.call(ctx, d.A, "POST", "/zones/"+d.A.Zone+"/dns_records",
		map[string]any{"type": "A", "name": WWWName, "content": "192.0.2.80", "proxied": true, "ttl": 1}, nil); err != nil {
		return err
	}
	return d.call(ctx, d.A, "POST", "/accounts/"+d.A.Account+"/addressing/address_maps", map[string]any{
		"description": "www on our own IPs", "enabled": true, "ips": []string{DemoMapped.String()},
		"memberships": []map[string]any{{"identifier": d.A.Zone, "kind": "zone"}},
	}, nil)
}

func (d *Demo) prefixPath(rest string) string {
	return "/accounts/" + d.A.Account + "/addressing/prefixes/" + d.PrefixID + rest
}

// call calls the Cloudflare-compatible API under /client/v4 as p.
func (d *Demo) call(ctx context.Context, p party, method, path string, body, result any) error {
	return d.do(ctx, p, method, d.API+"/client/v4"+path, body, result)
}

// do sends one request and decodes the envelope's result into result; an
// unsuccessful envelope is an error with its messages.
func (d *Demo) do(ctx context.Context, p party, method, url string, body, result any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Email", p.Email)
	req.Header.Set("X-Auth-Key", p.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Success bool `json:"success"`
		Errors  []struct {
			Code    int
			Message string
		} `json:"errors"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s %s: status %d, undecodable body: %w", method, url, resp.StatusCode, err)
	}
	if !env.Success {
		var msgs []string
		for _, e := range env.Errors {
			msgs = append(msgs, fmt.Sprintf("%d %s", e.Code, e.Message))
		}
		return fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, strings.Join(msgs, "; "))
	}
	if result != nil {
		return json.Unmarshal(env.Result, result)
	}
	return nil
}

// poll checks cond every 50ms for up to 30s.
func (d *Demo) poll(ctx context.Context, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return netlab.Poll(ctx, what, cond)
}
