package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/edgesim/edgesim/config"
)

// spectrumAppReq is the body of Spectrum app create and update: the union
// of the SDK's three request variants, plus the legacy booleans
// proxy_protocol (true = v1) and spp (true = simple).
type spectrumAppReq struct {
	Protocol *string `json:"protocol"`
	DNS      *struct {
		Type *string `json:"type"`
		Name *string `json:"name"`
	} `json:"dns"`
	OriginDirect []string `json:"origin_direct"`
	OriginDNS    *struct {
		Name *string `json:"name"`
		TTL  *int64  `json:"ttl"`
		Type *string `json:"type"`
	} `json:"origin_dns"`
	OriginPort       json.RawMessage `json:"origin_port"`
	ProxyProtocol    json.RawMessage `json:"proxy_protocol"`
	SPP              *bool           `json:"spp"`
	IPFirewall       *bool           `json:"ip_firewall"`
	ArgoSmartRouting *bool           `json:"argo_smart_routing"`
	TLS              *string         `json:"tls"`
	TrafficType      *string         `json:"traffic_type"`
	EdgeIPs          *struct {
		Type         *string  `json:"type"`
		Connectivity *string  `json:"connectivity"`
		IPs          []string `json:"ips"`
	} `json:"edge_ips"`
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func ruleErr(r config.Rule, msg string) error { return &config.RuleError{Rule: r, Msg: msg} }

// parseSpectrumReq turns a request into an app with defaults applied:
// edge_ips dynamic/all, proxy_protocol off, tls off, traffic_type direct.
func parseSpectrumReq(req *spectrumAppReq) (*config.SpectrumApp, error) {
	if req.Protocol == nil {
		return nil, missing("protocol")
	}
	if req.DNS == nil {
		return nil, missing("dns")
	}
	if req.DNS.Type == nil {
		return nil, missing("dns.type")
	}
	if req.DNS.Name == nil {
		return nil, missing("dns.name")
	}
	a := &config.SpectrumApp{
		Protocol:      *req.Protocol,
		DNS:           config.SpectrumDNS{Type: *req.DNS.Type, Name: *req.DNS.Name},
		OriginDirect:  slices.Clone(req.OriginDirect),
		ProxyProtocol: config.ProxyProtocolOff,
		TLS:           config.TLSOff,
		TrafficType:   config.TrafficDirect,
		EdgeIPs:       config.SpectrumEdgeIPs{Type: config.EdgeIPsDynamic, Connectivity: config.ConnectivityAll},
	}
	if o := req.OriginDNS; o != nil {
		if o.Name == nil {
			return nil, missing("origin_dns.name")
		}
		a.OriginDNS = &config.OriginDNS{Name: *o.Name}
		if o.TTL != nil {
			a.OriginDNS.TTL = *o.TTL
		}
		if o.Type != nil {
			a.OriginDNS.Type = *o.Type
		}
	}
	if !isNull(req.OriginPort) {
		r, err := parseOriginPort(req.OriginPort)
		if err != nil {
			return nil, err
		}
		a.OriginPort = &r
	}
	if !isNull(req.ProxyProtocol) {
		var b bool
		var s string
		switch {
		case json.Unmarshal(req.ProxyProtocol, &s) == nil:
			a.ProxyProtocol = s
		case json.Unmarshal(req.ProxyProtocol, &b) == nil:
			if b {
				a.ProxyProtocol = config.ProxyProtocolV1
			}
		default:
			return nil, errorf(http.StatusBadRequest, CodeFieldType, "field %q must be a json string or boolean", "proxy_protocol")
		}
	}
	if req.SPP != nil && *req.SPP {
		if a.ProxyProtocol != config.ProxyProtocolOff && a.ProxyProtocol != config.ProxyProtocolSimple {
			return nil, ruleErr(config.RuleSpectrumProxyProtocol, "spp: true conflicts with proxy_protocol "+strconv.Quote(a.ProxyProtocol))
		}
		a.ProxyProtocol = config.ProxyProtocolSimple
	}
	if req.IPFirewall != nil {
		a.IPFirewall = *req.IPFirewall
	}
	if req.ArgoSmartRouting != nil {
		a.ArgoSmartRouting = *req.ArgoSmartRouting
	}
	if req.TLS != nil {
		a.TLS = *req.TLS
	}
	if req.TrafficType != nil {
		a.TrafficType = *req.TrafficType
	}
	if e := req.EdgeIPs; e != nil {
		if e.Type == nil {
			return nil, missing("edge_ips.type")
		}
		a.EdgeIPs = config.SpectrumEdgeIPs{Type: *e.Type}
		if e.Connectivity != nil {
			a.EdgeIPs.Connectivity = *e.Connectivity
		} else if *e.Type == config.EdgeIPsDynamic {
			a.EdgeIPs.Connectivity = config.ConnectivityAll
		}
		if *e.Type == config.EdgeIPsDynamic && len(e.IPs) > 0 {
			return nil, ruleErr(config.RuleSpectrumEdgeIPs, "edge_ips.ips is only valid with type static")
		}
		for _, s := range e.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil || ip.Zone() != "" || ip.Is4In6() {
				return nil, ruleErr(config.RuleSpectrumEdgeIPs, "edge_ips.ips: "+strconv.Quote(s)+" is not an IP address")
			}
			a.EdgeIPs.IPs = append(a.EdgeIPs.IPs, ip)
		}
	}
	if err := config.CheckSpectrumFields(a); err != nil {
		return nil, err
	}
	return a, nil
}

// parseOriginPort reads origin_port: an integer port or a "LOW-HIGH" string
// (a string holding one port is accepted too).
func parseOriginPort(raw json.RawMessage) (config.PortRange, error) {
	bad := ruleErr(config.RuleSpectrumOriginPort, "origin_port must be a port 1-65535 or a range string \"LOW-HIGH\"")
	var s string
	if json.Unmarshal(raw, &s) == nil {
		r, ok := config.ParsePortRange(s)
		if !ok {
			return config.PortRange{}, bad
		}
		return r, nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil {
		return config.PortRange{}, errorf(http.StatusBadRequest, CodeFieldType, "field %q must be a json integer or string", "origin_port")
	}
	if n != math.Trunc(n) || n < 1 || n > 65535 {
		return config.PortRange{}, bad
	}
	return config.PortRange{Low: uint16(n), High: uint16(n)}, nil
}

// edgeIPsView is spectrum.EdgeIPs on the wire; dynamic apps show no ips
// (the allocated addresses are in /admin/v1/state and the DNS answers).
type edgeIPsView struct {
	Type         string   `json:"type"`
	Connectivity string   `json:"connectivity,omitempty"`
	IPs          []string `json:"ips,omitempty"`
}

// spectrumAppView is the full Spectrum app variant (B.9), defaults filled.
type spectrumAppView struct {
	ID               string             `json:"id"`
	CreatedOn        time.Time          `json:"created_on"`
	ModifiedOn       time.Time          `json:"modified_on"`
	Protocol         string             `json:"protocol"`
	DNS              config.SpectrumDNS `json:"dns"`
	OriginDirect     []string           `json:"origin_direct,omitempty"`
	OriginDNS        *config.OriginDNS  `json:"origin_dns,omitempty"`
	OriginPort       any                `json:"origin_port,omitempty"`
	ProxyProtocol    string             `json:"proxy_protocol"`
	IPFirewall       bool               `json:"ip_firewall"`
	ArgoSmartRouting bool               `json:"argo_smart_routing"`
	TLS              string             `json:"tls"`
	TrafficType      string             `json:"traffic_type"`
	EdgeIPs          edgeIPsView        `json:"edge_ips"`
}

func viewSpectrumApp(a *config.SpectrumApp) spectrumAppView {
	v := spectrumAppView{
		ID: a.ID, CreatedOn: a.CreatedOn.UTC(), ModifiedOn: a.ModifiedOn.UTC(),
		Protocol: a.Protocol, DNS: a.DNS, OriginDirect: a.OriginDirect, OriginDNS: a.OriginDNS,
		ProxyProtocol: a.ProxyProtocol, IPFirewall: a.IPFirewall, ArgoSmartRouting: a.ArgoSmartRouting,
		TLS: a.TLS, TrafficType: a.TrafficType,
		EdgeIPs: edgeIPsView{Type: a.EdgeIPs.Type, Connectivity: a.EdgeIPs.Connectivity},
	}
	if r := a.OriginPort; r != nil {
		if r.IsRange() {
			v.OriginPort = r.String()
		} else {
			v.OriginPort = int(r.Low)
		}
	}
	if a.EdgeIPs.Type == config.EdgeIPsStatic {
		for _, ip := range a.EdgeIPs.IPs {
			v.EdgeIPs.IPs = append(v.EdgeIPs.IPs, ip.String())
		}
	}
	return v
}

func (s *Server) spectrumEnv(c *call) config.SpectrumEnv {
	return config.SpectrumEnv{Zone: c.zone, Pool: s.daemon.Pool(), Strict: s.daemon.Rules.SpectrumStrict, Now: s.clock.Now()}
}

// saveSpectrumApp checks a (new or replacing) app, persists it and returns
// its view with the warnings as messages.
func (s *Server) saveSpectrumAppLocked(c *call, a *config.SpectrumApp) (any, error) {
	warnings, err := config.CheckSpectrumApp(s.state, a, s.spectrumEnv(c))
	if err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), putSpectrumApp(a)); err != nil {
		return nil, err
	}
	v := viewSpectrumApp(a)
	if len(warnings) == 0 {
		return v, nil
	}
	msgs := make([]message, 0, len(warnings))
	for _, w := range warnings {
		msgs = append(msgs, message{Code: ruleCodes[w.Rule].code, Message: w.Msg})
	}
	return withMessages{result: v, msgs: msgs}, nil
}

func (s *Server) createSpectrumApp(c *call) (any, error) {
	var req spectrumAppReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	a, err := parseSpectrumReq(&req)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	a.ID, a.ZoneID, a.ZoneName, a.AccountID = newID(), c.zone.ID, c.zone.Name, c.zone.AccountID
	a.CreatedOn, a.ModifiedOn = now, now
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.saveSpectrumAppLocked(c, a)
	if err == nil {
		s.log.Info("spectrum app created", "id", a.ID, "zone_id", a.ZoneID, "protocol", a.Protocol, "dns_name", a.DNS.Name)
	}
	return res, err
}

func (s *Server) spectrumAppLocked(c *call) (*config.SpectrumApp, error) {
	id := c.param("app_id")
	a, ok := s.state.SpectrumApps[id]
	if !ok || a.ZoneID != c.zone.ID {
		return nil, notFound("spectrum app %s", id)
	}
	return a, nil
}

func (s *Server) getSpectrumApp(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, err := s.spectrumAppLocked(c)
	if err != nil {
		return nil, err
	}
	return viewSpectrumApp(a), nil
}

// updateSpectrumApp replaces an app (PUT): every field comes from the body
// or its default; the ID and created_on stay.
func (s *Server) updateSpectrumApp(c *call) (any, error) {
	var req spectrumAppReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.spectrumAppLocked(c)
	if err != nil {
		return nil, err
	}
	a, err := parseSpectrumReq(&req)
	if err != nil {
		return nil, err
	}
	a.ID, a.ZoneID, a.ZoneName, a.AccountID = old.ID, old.ZoneID, old.ZoneName, old.AccountID
	a.CreatedOn, a.ModifiedOn = old.CreatedOn, s.clock.Now()
	return s.saveSpectrumAppLocked(c, a)
}

func (s *Server) deleteSpectrumApp(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.spectrumAppLocked(c)
	if err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), del(KindSpectrum, a.ID)); err != nil {
		return nil, err
	}
	s.log.Info("spectrum app deleted", "id", a.ID, "zone_id", a.ZoneID)
	return struct {
		ID string `json:"id"`
	}{a.ID}, nil
}

// Pagination limits of the Spectrum app list (OpenAPI 2024-08).
const (
	defaultPerPage = 20
	maxPerPage     = 100
)

// pageParams reads page (>= 1, default 1) and per_page (1-100, default 20).
func pageParams(c *call) (pageNum, perPage int, err error) {
	q := c.r.URL.Query()
	num := func(name string, def, lo, hi int) (int, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
			return 0, errorf(http.StatusBadRequest, CodeBadQuery, "%s must be an integer from %d to %d, got %q", name, lo, hi, v)
		}
		return int(f), nil
	}
	if pageNum, err = num("page", 1, 1, math.MaxInt32); err != nil {
		return 0, 0, err
	}
	if perPage, err = num("per_page", defaultPerPage, 1, maxPerPage); err != nil {
		return 0, 0, err
	}
	return pageNum, perPage, nil
}

// paginate returns page pageNum of items; past the last page it is empty.
func paginate[T any](items []T, pageNum, perPage int) page {
	total := len(items)
	lo := min((pageNum-1)*perPage, total)
	hi := min(lo+perPage, total)
	out := slices.Clone(items[lo:hi])
	if out == nil {
		out = []T{}
	}
	return page{items: out, info: resultInfo{
		Page: pageNum, PerPage: perPage, Count: len(out), TotalCount: total,
		TotalPages: (total + perPage - 1) / perPage,
	}}
}

// listSpectrumApps lists a zone's apps ordered by order (protocol, app_id,
// created_on, modified_on, dns; default dns) and direction (asc, desc),
// ties broken by ID.
func (s *Server) listSpectrumApps(c *call) (any, error) {
	pageNum, perPage, err := pageParams(c)
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	order, dir := cmp.Or(q.Get("order"), "dns"), cmp.Or(q.Get("direction"), "asc")
	var key func(a, b *config.SpectrumApp) int
	switch order {
	case "dns":
		key = func(a, b *config.SpectrumApp) int { return cmp.Compare(a.DNS.Name, b.DNS.Name) }
	case "protocol":
		key = func(a, b *config.SpectrumApp) int {
			pa, _ := config.ParseProtocol(a.Protocol)
			pb, _ := config.ParseProtocol(b.Protocol)
			return cmp.Or(cmp.Compare(pa.Transport, pb.Transport), cmp.Compare(pa.Ports.Low, pb.Ports.Low), cmp.Compare(pa.Ports.High, pb.Ports.High))
		}
	case "app_id":
		key = func(a, b *config.SpectrumApp) int { return 0 }
	case "created_on":
		key = func(a, b *config.SpectrumApp) int { return a.CreatedOn.Compare(b.CreatedOn) }
	case "modified_on":
		key = func(a, b *config.SpectrumApp) int { return a.ModifiedOn.Compare(b.ModifiedOn) }
	default:
		return nil, errorf(http.StatusBadRequest, CodeBadQuery, "order must be one of protocol, app_id, created_on, modified_on, dns, got %q", order)
	}
	if dir != "asc" && dir != "desc" {
		return nil, errorf(http.StatusBadRequest, CodeBadQuery, "direction must be asc or desc, got %q", dir)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var apps []*config.SpectrumApp
	for _, a := range s.state.SpectrumApps {
		if a.ZoneID == c.zone.ID {
			apps = append(apps, a)
		}
	}
	slices.SortFunc(apps, func(a, b *config.SpectrumApp) int {
		r := cmp.Or(key(a, b), cmp.Compare(a.ID, b.ID))
		if dir == "desc" {
			return -r
		}
		return r
	})
	views := make([]spectrumAppView, 0, len(apps))
	for _, a := range apps {
		views = append(views, viewSpectrumApp(a))
	}
	return paginate(views, pageNum, perPage), nil
}
