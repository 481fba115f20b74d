package edgelab

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/edgesim/edgesim/netlab"
)

// hintsTmpl is the text of Hints; its data is hintsData.
var hintsTmpl = template.Must(template.New("hints").Parse(`edgesim lab is up: {{.L.Client.Name}} ── {{.L.Peer.Name}} (FRR AS{{.PeerAS}}) ── {{.L.Edge.Name}} (edged AS{{.EdgeAS}}) ── {{.L.Origin.Name}}
  edged API  {{.L.API}}/client/v4/  (host namespace; admin under /admin/v1/, metrics at /metrics)
  edge       BGP to the peer over IPv4 and IPv6, Spectrum proxy on AnyIP routes, DNS on {{.L.DNS}}
  client     {{.L.ClientAddr}}, routes through the peer;  origin {{.L.OriginAddr}}: tcp/{{.SSHPort}} prints the PROXY header it got, udp/{{.EchoPort}} echoes SPP
  demo state account A ({{.D.A.Email}}) owns {{.Prefix}} (validated, CDN + Spectrum {{.Spectrum}}, advertised),
             delegated {{.Delegated}} to account B ({{.D.B.Email}}): Spectrum apps {{.SSHName}} (tcp/{{.SSHPort}}, PROXY v2) and {{.EchoName}} (udp/{{.EchoPort}}, SPP)
  files      {{.Dir}} (edged.yaml, edged.log, registry/, peer/)

Try:
  ip netns exec {{.L.Client.Name}} nc {{.Delegated}} {{.SSHPort}}                       # the origin prints the PROXY v2 header with the client's address
  echo hello | ip netns exec {{.L.Client.Name}} nc -u -w1 {{.Delegated}} {{.EchoPort}}   # UDP through Spectrum; the origin decodes SPP
  ip netns exec {{.L.Client.Name}} dig @{{.L.DNS.Addr}} +short {{.SSHName}} A
  vtysh --vty_socket {{.VTY}} -c 'show bgp ipv4 unicast'       # the peer's view: {{.Prefix}} from AS{{.EdgeAS}}
  ip -n {{.L.Peer.Name}} route show proto bgp
  {{.Edgectl}} status
  {{.Edgectl}} lookup {{.Delegated}}
  A={{.D.A.Account}}; H=(-H 'X-Auth-Email: {{.D.A.Email}}' -H 'X-Auth-Key: {{.D.A.Key}}')
  curl -s "${H[@]}" {{.L.API}}/client/v4/accounts/$A/addressing/prefixes | jq -c '.result[] | {cidr, approved, advertised}'
  Withdraw, and the route leaves the peer (new connections from the client then fail):
  curl -s "${H[@]}" -X PATCH {{.L.API}}/client/v4/accounts/$A/addressing/prefixes/{{.D.PrefixID}}/bgp/prefixes/{{.D.BGPPrefixID}} -d '{"on_demand":{"advertised":false}}' | jq -c .result.on_demand
`))

// Hints is what to try in the lab after d loaded the demo, for people:
// every command runs as printed from the repository's root.
func (l *Lab) Hints(d *Demo) string {
	data := struct {
		L                 *Lab
		D                 *Demo
		PeerAS, EdgeAS    int
		SSHPort, EchoPort int
		Prefix, Spectrum  netip.Prefix
		Delegated         netip.Addr
		SSHName, EchoName string
		Dir, VTY, Edgectl string
	}{
		L: l, D: d, PeerAS: PeerAS, EdgeAS: EdgeAS, SSHPort: SSHPort, EchoPort: EchoPort,
		Prefix: DemoPrefix, Spectrum: DemoSpectrum, Delegated: DemoDelegated,
		SSHName: SSHName, EchoName: EchoName,
		Dir: relPath(l.Dir), VTY: relPath(l.FRR.Dir), Edgectl: "bin/edgectl",
	}
	if l.API != "http://127.0.0.1:8080" {
		data.Edgectl += " -api " + l.API
	}
	var b strings.Builder
	if err := hintsTmpl.Execute(&b, data); err != nil {
		return "edgelab: hints: " + err.Error() // a template bug; the tests catch it
	}
	return b.String()
}

// relPath returns p relative to the working directory when it lies below
// it, so printed commands stay short.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// Status is what `edgectl lab status` reports about a plain lab.
type Status struct {
	Dir        string          `json:"dir"`
	KeeperPID  int             `json:"keeper_pid,omitempty"` // the edgectl that holds the lab
	Namespaces map[string]bool `json:"namespaces"`           // exists?
	API        string          `json:"api"`
	APIUp      bool            `json:"api_up"`
	EdgedPeers []PeerState     `json:"edged_peers"` // edged's view
	FRRPeers   []PeerState     `json:"frr_peers"`   // the peer's view
	Error      []string        `json:"errors,omitempty"`
}

// PeerState is one BGP session.
type PeerState struct {
	Neighbor string `json:"neighbor"`
	State    string `json:"state"`
	Prefixes int    `json:"prefixes"` // sent by edged, received by FRR
}

// Up reports whether the whole lab runs.
func (s *Status) Up() bool {
	for _, ok := range s.Namespaces {
		if !ok {
			return false
		}
	}
	return s.KeeperPID != 0 && s.APIUp
}

// PIDFile is where the keeper of a plain lab in dir writes its PID.
func PIDFile(dir string) string { return filepath.Join(dir, "lab.pid") }

// KeeperPID returns the PID in dir's PID file if that process is alive.
func KeeperPID(dir string) int {
	b, err := os.ReadFile(PIDFile(dir))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// GetStatus inspects the plain lab in dir whose API is api (host:port).
func GetStatus(ctx context.Context, dir, api string) *Status {
	s := &Status{Dir: dir, API: "http://" + api, Namespaces: map[string]bool{}, KeeperPID: KeeperPID(dir)}
	for _, n := range Namespaces {
		s.Namespaces[n] = netlab.NetnsExists(n)
	}
	hc := &http.Client{Timeout: 3 * time.Second}
	if resp, err := hc.Get(s.API + "/admin/v1/bgp"); err != nil {
		s.Error = append(s.Error, "edged: "+err.Error())
	} else {
		var env struct {
			Result struct {
				Peers []struct {
					Address      string `json:"address"`
					State        string `json:"state"`
					PrefixesSent int    `json:"prefixes_sent"`
				} `json:"peers"`
			} `json:"result"`
		}
		err := json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		s.APIUp = err == nil && resp.StatusCode == http.StatusOK
		for _, p := range env.Result.Peers {
			s.EdgedPeers = append(s.EdgedPeers, PeerState{p.Address, p.State, p.PrefixesSent})
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "vtysh", "--vty_socket", filepath.Join(dir, "peer"), "-c", "show bgp summary json").Output()
	if err != nil {
		s.Error = append(s.Error, "frr: "+strings.TrimSpace(err.Error()))
		return s
	}
	var sum map[string]struct {
		Peers map[string]struct {
			State  string `json:"state"`
			PfxRcd int    `json:"pfxRcd"`
		} `json:"peers"`
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		s.Error = append(s.Error, "frr: "+err.Error())
		return s
	}
	for _, afi := range []string{"ipv4Unicast", "ipv6Unicast"} {
		for n, p := range sum[afi].Peers {
			s.FRRPeers = append(s.FRRPeers, PeerState{n, p.State, p.PfxRcd})
		}
	}
	return s
}
