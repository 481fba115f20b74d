package edgelab

import (
	"context"
	"encoding/json"
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
