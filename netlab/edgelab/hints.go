package edgelab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgesim/edgesim/netlab"
)

// Hints is what to try in the lab after d loaded the demo, for people:
// every command runs as printed from the repository's root.
func (l *Lab) Hints(d *Demo) string {
	vty := relPath(l.FRR.Dir)
	edgectl := "bin/edgectl"
	if l.API != "http://127.0.0.1:8080" {
		edgectl += " -api " + l.API
	}
	return fmt.Sprintf(`edgesim lab is up: %[1]s ── %[2]s (FRR AS%[3]d) ── %[4]s (edged AS%[5]d) ── %[6]s
  edged API  %[7]s/client/v4/  (host namespace; admin under /admin/v1/, metrics at /metrics)
  edge       BGP to the peer over IPv4 and IPv6, Spectrum proxy on AnyIP routes, DNS on %[8]s
  client     %[9]s, routes through the peer;  origin %[10]s: tcp/%[11]d prints the PROXY header it got, udp/%[12]d echoes SPP
  demo state account A (%[13]s) owns %[14]s (validated, CDN + Spectrum %[15]s, advertised),
             delegated %[16]s to account B (%[17]s): Spectrum apps %[18]s (tcp/%[11]d, PROXY v2) and %[19]s (udp/%[12]d, SPP)
  files      %[20]s (edged.yaml, edged.log, registry/, peer/)

Try:
  ip netns exec %[1]s nc %[16]s %[11]d                       # the origin prints the PROXY v2 header with the client's address
  echo hello | ip netns exec %[1]s nc -u -w1 %[16]s %[12]d   # UDP through Spectrum; the origin decodes SPP
  ip netns exec %[1]s dig @%[21]s +short %[18]s A
  vtysh --vty_socket %[22]s -c 'show bgp ipv4 unicast'       # the peer's view: %[14]s from AS%[5]d
  ip -n %[2]s route show proto bgp
  %[27]s status
  %[27]s lookup %[16]s
  A=%[23]s; H=(-H 'X-Auth-Email: %[13]s' -H 'X-Auth-Key: %[24]s')
  curl -s "${H[@]}" %[7]s/client/v4/accounts/$A/addressing/prefixes | jq -c '.result[] | {cidr, approved, advertised}'
  Withdraw, and the route leaves the peer (new connections from the client then fail):
  curl -s "${H[@]}" -X PATCH %[7]s/client/v4/accounts/$A/addressing/prefixes/%[25]s/bgp/prefixes/%[26]s -d '{"on_demand":{"advertised":false}}' | jq -c .result.on_demand
`,
		l.Client.Name, l.Peer.Name, PeerAS, l.Edge.Name, EdgeAS, l.Origin.Name,
		l.API, l.DNS, l.ClientAddr, l.OriginAddr, SSHPort, EchoPort,
		d.A.Email, DemoPrefix, DemoSpectrum, DemoDelegated, d.B.Email, SSHName, EchoName,
		relPath(l.Dir), l.DNS.Addr(), vty, d.A.Account, d.A.Key, d.PrefixID, d.BGPPrefixID, edgectl)
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
