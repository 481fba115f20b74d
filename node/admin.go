package node

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/edgesim/edgesim/api"
	"github.com/edgesim/edgesim/bgp"
	"github.com/edgesim/edgesim/config"
)

// lookupView is the admin answer for one address: what the published
// snapshot's FIB says.
type lookupView struct {
	IP         string           `json:"ip"`
	Matched    bool             `json:"matched"`
	Route      string           `json:"route,omitempty"` // the binding CIDR that matched
	Binding    *config.FIBEntry `json:"binding,omitempty"`
	Announced  string           `json:"announced,omitempty"` // announced BGP prefix covering the IP
	Served     bool             `json:"served"`
	Generation uint64           `json:"generation"`
}

// snapshotView is the admin view of the published snapshot.
type snapshotView struct {
	Generation     uint64                `json:"generation"`
	At             time.Time             `json:"at"`
	NextChange     *time.Time            `json:"next_change"`
	BuildSeconds   float64               `json:"build_seconds"`
	Bindings       []config.FIBEntry     `json:"bindings"`
	Announcements  []config.Announcement `json:"announcements"`
	LastCompileErr string                `json:"last_compile_error,omitempty"`
}

// bgpView is the admin view of the BGP speaker.
type bgpView struct {
	Enabled bool       `json:"enabled"`
	Peers   []peerView `json:"peers"`
}

type peerView struct {
	Address          string  `json:"address"`
	PeerAS           uint32  `json:"peer_as"`
	State            string  `json:"state"`
	UptimeSeconds    float64 `json:"uptime_seconds"`
	PrefixesSent     int     `json:"prefixes_sent"`
	PrefixesReceived int     `json:"prefixes_received"`
	LastError        string  `json:"last_error,omitempty"`
}

// listenersView is the admin view of what the node listens on.
type listenersView struct {
	API          string          `json:"api"`
	DNS          string          `json:"dns"` // UDP and TCP; "" when DNS is off
	ProxyEnabled bool            `json:"proxy_enabled"`
	Proxy        []proxyListener `json:"proxy"` // the listeners the apps want, sorted by transport and port
}

// listenersOf returns a func that reports the listeners of a running node:
// the API's address, and the DNS responder and proxy, each nil when off.
func listenersOf(apiAddr net.Addr, dnsN *dnsNode, prox *proxyNode) func() listenersView {
	return func() listenersView {
		v := listenersView{API: apiAddr.String(), ProxyEnabled: prox != nil, Proxy: []proxyListener{}}
		if dnsN != nil {
			v.DNS = dnsN.addr()
		}
		if prox != nil {
			if ls := prox.listenerStates(); ls != nil {
				v.Proxy = ls
			}
		}
		return v
	}
}

// adminHandler serves the node's admin endpoints in front of next (the API):
// GET /admin/v1/lookup/{ip}, GET /admin/v1/snapshot, GET /admin/v1/bgp
// (sp may be nil: no peers configured), GET /admin/v1/listeners and GET
// /metrics.
func adminHandler(h *config.Holder, compileErr func() string, sp *bgp.Speaker, listeners func() listenersView, metrics, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /admin/v1/listeners", func(w http.ResponseWriter, r *http.Request) {
		writeEnvelope(w, http.StatusOK, listeners(), "")
	})
	mux.HandleFunc("GET /admin/v1/bgp", func(w http.ResponseWriter, r *http.Request) {
		peers := []peerView{}
		if sp != nil {
			for _, p := range sp.Status() {
				peers = append(peers, peerView{
					Address: p.Address.String(), PeerAS: p.PeerAS, State: string(p.State),
					UptimeSeconds: p.Uptime.Seconds(), PrefixesSent: p.PrefixesSent,
					PrefixesReceived: p.PrefixesReceived, LastError: p.LastError,
				})
			}
		}
		writeEnvelope(w, http.StatusOK, bgpView{Enabled: sp != nil, Peers: peers}, "")
	})
	mux.HandleFunc("GET /admin/v1/lookup/{ip}", func(w http.ResponseWriter, r *http.Request) {
		addr, err := netip.ParseAddr(r.PathValue("ip"))
		if err != nil {
			writeEnvelope(w, http.StatusBadRequest, nil, "not an IP address: "+r.PathValue("ip"))
			return
		}
		s := h.Load()
		v := lookupView{IP: addr.String(), Generation: s.Generation}
		if d, ok := s.Lookup(addr); ok {
			v.Matched = true
			v.Route = d.Entry.CIDR.String()
			v.Binding = &d.Entry
			if d.Announced.IsValid() {
				v.Announced = d.Announced.String()
			}
			v.Served = d.Served()
		}
		writeEnvelope(w, http.StatusOK, v, "")
	})
	mux.HandleFunc("GET /admin/v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		s := h.Load()
		v := snapshotView{
			Generation: s.Generation, At: s.At, BuildSeconds: s.BuildTime.Seconds(),
			Bindings: s.Entries(), Announcements: s.Announcements(),
			LastCompileErr: compileErr(),
		}
		if !s.NextChange.IsZero() {
			v.NextChange = &s.NextChange
		}
		if v.Bindings == nil {
			v.Bindings = []config.FIBEntry{}
		}
		if v.Announcements == nil {
			v.Announcements = []config.Announcement{}
		}
		writeEnvelope(w, http.StatusOK, v, "")
	})
	return mux
}

func writeEnvelope(w http.ResponseWriter, status int, result any, errMsg string) {
	type apiErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	env := struct {
		Success  bool     `json:"success"`
		Errors   []apiErr `json:"errors"`
		Messages []string `json:"messages"`
		Result   any      `json:"result"`
	}{Success: errMsg == "", Errors: []apiErr{}, Messages: []string{}, Result: result}
	if errMsg != "" {
		env.Errors = append(env.Errors, apiErr{Code: int(api.CodeAdminBadIP), Message: errMsg})
		w.Header().Set("x-should-retry", "false")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(env)
}
