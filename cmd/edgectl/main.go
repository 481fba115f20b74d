// Command edgectl inspects and drives a running edged through its admin
// endpoints: what the dispatch table says about an address, the state of
// prefixes, bindings, announcements, BGP sessions, Spectrum apps and
// listeners, and the lab clock.
package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgesim/edgesim/config"
)

const usage = `usage: edgectl [-api URL] [-o table|json] COMMAND [ARGS]

Commands:
  status                 prefixes, bindings, BGP prefixes (advertised and
                         announced), BGP peers, Spectrum apps, and the
                         listeners (API, DNS, proxy ports: open or failed)
  lookup IP              what the edge's dispatch (LPM) table says about IP:
                         the matched binding, its service and state, the
                         announced BGP prefix, and whether traffic is served
  fast-forward DURATION  advance the lab clock (e.g. 5h) so provisioning and
                         advertisement delays pass at once
  clock                  show the lab clock
  lab up|down|status     the network lab: edged, an FRR peer, client and
                         origin in network namespaces (root; see edgectl lab)

Flags:
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgectl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	base := fs.String("api", envOr("EDGESIM_API", "http://127.0.0.1:8080"), "edged `URL` (env EDGESIM_API)")
	out := fs.String("o", "table", "output `format`: table or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out != "table" && *out != "json" {
		fmt.Fprintf(stderr, "edgectl: -o must be table or json, not %q\n", *out)
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c := &client{base: strings.TrimSuffix(*base, "/"), http: &http.Client{Timeout: 10 * time.Second}}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	var err error
	switch {
	case cmd == "status" && len(rest) == 0:
		err = status(c, *out, stdout)
	case cmd == "lookup" && len(rest) == 1:
		err = lookup(c, rest[0], *out, stdout)
	case cmd == "fast-forward" && len(rest) == 1:
		err = fastForward(c, rest[0], *out, stdout)
	case cmd == "lab":
		return runLab(rest, *base, *out, stdout, stderr)
	case cmd == "clock" && len(rest) == 0:
		err = showClock(c, *out, stdout)
	default:
		fmt.Fprintf(stderr, "edgectl: unknown command or wrong arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgectl: %v\n", err)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type client struct {
	base string
	http *http.Client
}

// call sends a request to an admin endpoint and decodes the envelope's
// result into res (and returns the raw result for -o json).
func (c *client) call(method, path, body string, res any) (json.RawMessage, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is edged running? %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Success bool `json:"success"`
		Errors  []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("%s %s: HTTP %d, undecodable answer: %w", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode >= 400 || !env.Success {
		var msgs []string
		for _, e := range env.Errors {
			msgs = append(msgs, fmt.Sprintf("%s (code %d)", e.Message, e.Code))
		}
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.Join(msgs, "; "))
	}
	if res != nil {
		if err := json.Unmarshal(env.Result, res); err != nil {
			return nil, fmt.Errorf("%s %s: decoding result: %w", method, path, err)
		}
	}
	return env.Result, nil
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type lookupResult struct {
	IP         string           `json:"ip"`
	Matched    bool             `json:"matched"`
	Route      string           `json:"route"`
	Binding    *config.FIBEntry `json:"binding"`
	Announced  string           `json:"announced"`
	Served     bool             `json:"served"`
	Generation uint64           `json:"generation"`
}

func lookup(c *client, ip, out string, w io.Writer) error {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return fmt.Errorf("not an IP address: %q", ip)
	}
	var r lookupResult
	raw, err := c.call("GET", "/admin/v1/lookup/"+addr.String(), "", &r)
	if err != nil {
		return err
	}
	if out == "json" {
		return printJSON(w, raw)
	}
	if !r.Matched {
		fmt.Fprintf(w, "%s: no binding covers it (not an edge address); snapshot %d\n", r.IP, r.Generation)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ip\t%s\n", r.IP)
	fmt.Fprintf(tw, "route\t%s (binding %s)\n", r.Route, r.Binding.BindingID)
	fmt.Fprintf(tw, "service\t%s\n", r.Binding.Service)
	fmt.Fprintf(tw, "binding state\t%s\n", r.Binding.State)
	fmt.Fprintf(tw, "prefix\t%s (account %s)\n", r.Binding.PrefixID, r.Binding.AccountID)
	ann := r.Announced
	if ann == "" {
		ann = "none (withdrawn)"
	}
	fmt.Fprintf(tw, "announced\t%s\n", ann)
	fmt.Fprintf(tw, "served\t%v\n", r.Served)
	fmt.Fprintf(tw, "snapshot\t%d\n", r.Generation)
	return tw.Flush()
}

type stateResult struct {
	Now   time.Time     `json:"now"`
	State *config.State `json:"state"`
}

type snapshotResult struct {
	Generation    uint64                `json:"generation"`
	Bindings      []config.FIBEntry     `json:"bindings"`
	Announcements []config.Announcement `json:"announcements"`
}

type bgpResult struct {
	Enabled bool `json:"enabled"`
	Peers   []struct {
		Address          string  `json:"address"`
		PeerAS           uint32  `json:"peer_as"`
		State            string  `json:"state"`
		UptimeSeconds    float64 `json:"uptime_seconds"`
		PrefixesSent     int     `json:"prefixes_sent"`
		PrefixesReceived int     `json:"prefixes_received"`
		LastError        string  `json:"last_error"`
	} `json:"peers"`
}

type listenersResult struct {
	API          string          `json:"api"`
	DNS          string          `json:"dns"`
	ProxyEnabled bool            `json:"proxy_enabled"`
	Proxy        []proxyListener `json:"proxy"`
}

type proxyListener struct {
	Transport string `json:"transport"`
	Port      uint16 `json:"port"`
	Open      bool   `json:"open"`
	Error     string `json:"error"`
}

func status(c *client, out string, w io.Writer) error {
	var st stateResult
	rawState, err := c.call("GET", "/admin/v1/state", "", &st)
	if err != nil {
		return err
	}
	var snap snapshotResult
	rawSnap, err := c.call("GET", "/admin/v1/snapshot", "", &snap)
	if err != nil {
		return err
	}
	var bgp bgpResult
	rawBGP, err := c.call("GET", "/admin/v1/bgp", "", &bgp)
	if err != nil {
		return err
	}
	var lis listenersResult
	rawLis, err := c.call("GET", "/admin/v1/listeners", "", &lis)
	if err != nil {
		return err
	}
	if out == "json" {
		return printJSON(w, json.RawMessage(fmt.Sprintf(`{"state":%s,"snapshot":%s,"bgp":%s,"listeners":%s}`, rawState, rawSnap, rawBGP, rawLis)))
	}
	if st.State == nil {
		st.State = config.NewState()
	}
	announced := map[string]bool{}
	for _, a := range snap.Announcements {
		announced[a.BGPPrefixID] = true
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PREFIX\tACCOUNT\tASN\tAPPROVED\tIRR\tRPKI\tOWNERSHIP\n")
	for _, p := range sorted(st.State.Prefixes, func(p *config.Prefix) string { return p.CIDR.String() }) {
		appr := "P"
		if p.Approved {
			appr = "V"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.CIDR, p.AccountID, p.ASN, appr, p.Validation.IRR, p.Validation.RPKI, p.Validation.Ownership)
	}
	fmt.Fprintf(tw, "\nBINDING\tSERVICE\tSTATE\n")
	for _, e := range snap.Bindings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.CIDR, e.Service, e.State)
	}
	fmt.Fprintf(tw, "\nBGP PREFIX\tADVERTISED (requested)\tANNOUNCED (at the edge)\tPREPEND\n")
	for _, b := range sorted(st.State.BGPPrefixes, func(b *config.BGPPrefix) string { return b.CIDR.String() }) {
		fmt.Fprintf(tw, "%s\t%v\t%v\t%d\n", b.CIDR, b.Advertised, announced[b.ID], b.ASNPrependCount)
	}
	fmt.Fprintf(tw, "\nBGP PEER\tAS\tSTATE\tUPTIME\tSENT\tRECEIVED\tLAST ERROR\n")
	if !bgp.Enabled {
		fmt.Fprintf(tw, "none (the config lists no bgp.peers)\n")
	}
	for _, p := range bgp.Peers {
		up := "-"
		if p.State == "established" {
			up = time.Duration(p.UptimeSeconds * float64(time.Second)).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%s\n", p.Address, p.PeerAS, p.State, up, p.PrefixesSent, p.PrefixesReceived, orDash(oneLine(p.LastError)))
	}
	fmt.Fprintf(tw, "\nSPECTRUM APP\tZONE\tPROTOCOL\tDNS NAME\tEDGE IPS\tORIGINS\tPROXY PROTOCOL\tIP FIREWALL\n")
	if len(st.State.SpectrumApps) == 0 {
		fmt.Fprintf(tw, "none\n")
	}
	for _, a := range sorted(st.State.SpectrumApps, func(a *config.SpectrumApp) string { return a.DNS.Name + " " + a.Protocol + " " + a.ID }) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", a.ID, cmp.Or(a.ZoneName, a.ZoneID), a.Protocol, a.DNS.Name,
			edgeIPs(a.EdgeIPs), origins(a), a.ProxyProtocol, a.IPFirewall)
	}
	fmt.Fprintf(tw, "\nLISTENER\tADDRESS\tSTATE\n")
	fmt.Fprintf(tw, "api\t%s\topen\n", lis.API)
	if lis.DNS == "" {
		fmt.Fprintf(tw, "dns\t-\toff (no listen.dns)\n")
	} else {
		fmt.Fprintf(tw, "dns\t%s\topen (udp and tcp)\n", lis.DNS)
	}
	switch {
	case !lis.ProxyEnabled:
		fmt.Fprintf(tw, "proxy\t-\toff (listen.proxy is false)\n")
	case len(lis.Proxy) == 0:
		fmt.Fprintf(tw, "proxy\t-\tno spectrum app needs a listener\n")
	}
	for _, r := range portRuns(lis.Proxy) {
		state := "open"
		if !r.Open {
			state = "failed: " + orDash(oneLine(r.Error))
		}
		fmt.Fprintf(tw, "proxy %s\t*:%s\t%s\n", r.Transport, r.ports, state)
	}
	fmt.Fprintf(tw, "\nsnapshot generation %d at %s\n", snap.Generation, st.Now.Format(time.RFC3339))
	return tw.Flush()
}

func orDash(s string) string { return cmp.Or(s, "-") }

// oneLine puts a possibly multi-line (joined) error on one table row.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// edgeIPs is "203.0.113.18,203.0.113.19", marked when allocated from the
// anycast pool (dynamic).
func edgeIPs(e config.SpectrumEdgeIPs) string {
	ips := make([]string, 0, len(e.IPs))
	for _, ip := range e.IPs {
		ips = append(ips, ip.String())
	}
	s := orDash(strings.Join(ips, ","))
	if e.Type == config.EdgeIPsDynamic {
		s += " (dynamic)"
	}
	return s
}

// origins is the app's origin_direct URIs, or its origin_dns name with
// the origin port.
func origins(a *config.SpectrumApp) string {
	if o := a.OriginDNS; o != nil {
		s := "dns:" + o.Name
		if a.OriginPort != nil {
			s += ":" + a.OriginPort.String()
		}
		return s
	}
	return orDash(strings.Join(a.OriginDirect, ","))
}

// portRun is a run of consecutive proxy listener ports in the same state.
type portRun struct {
	proxyListener
	ports string // "22" or "1000-2023"
}

// portRuns collapses ls (sorted by transport and port) into runs of
// consecutive ports with the same transport and state, so that an app's
// port range takes one row.
func portRuns(ls []proxyListener) []portRun {
	var out []portRun
	for i := 0; i < len(ls); {
		j := i + 1
		for j < len(ls) && ls[j].Transport == ls[i].Transport && ls[j].Open == ls[i].Open &&
			ls[j].Error == ls[i].Error && int(ls[j].Port) == int(ls[j-1].Port)+1 {
			j++
		}
		r := config.PortRange{Low: ls[i].Port, High: ls[j-1].Port}
		out = append(out, portRun{proxyListener: ls[i], ports: r.String()})
		i = j
	}
	return out
}

func sorted[T any](m map[string]*T, key func(*T) string) []*T {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b *T) int { return strings.Compare(key(a), key(b)) })
	return out
}

type clockResult struct {
	Now    time.Time `json:"now"`
	Offset string    `json:"offset"`
}

func fastForward(c *client, d, out string, w io.Writer) error {
	if _, err := time.ParseDuration(d); err != nil {
		return fmt.Errorf("not a duration (try 5h or 90s): %q", d)
	}
	return clockCall(c, "POST", "/admin/v1/clock/fast-forward", fmt.Sprintf(`{"duration":%q}`, d), out, w)
}

func showClock(c *client, out string, w io.Writer) error {
	return clockCall(c, "GET", "/admin/v1/clock", "", out, w)
}

// clockCall calls a clock endpoint and prints the clock it returns.
func clockCall(c *client, method, path, body, out string, w io.Writer) error {
	var r clockResult
	raw, err := c.call(method, path, body, &r)
	if err != nil {
		return err
	}
	if out == "json" {
		return printJSON(w, raw)
	}
	fmt.Fprintf(w, "clock now %s (fast-forwarded %s in all)\n", r.Now.Format(time.RFC3339), r.Offset)
	return nil
}
