package config

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spectrum enums, as the API spells them (notes §B.9).
const (
	TransportTCP = "tcp"
	TransportUDP = "udp"

	DNSTypeAddress = "ADDRESS"
	DNSTypeCNAME   = "CNAME"

	EdgeIPsStatic  = "static"
	EdgeIPsDynamic = "dynamic"

	ConnectivityAll  = "all"
	ConnectivityIPv4 = "ipv4"
	ConnectivityIPv6 = "ipv6"

	ProxyProtocolOff    = "off"
	ProxyProtocolV1     = "v1"
	ProxyProtocolV2     = "v2"
	ProxyProtocolSimple = "simple"

	TLSOff      = "off"
	TLSFlexible = "flexible"
	TLSFull     = "full"
	TLSStrict   = "strict"

	TrafficDirect = "direct"
	TrafficHTTP   = "http"
	TrafficHTTPS  = "https"
)

// The rules a Spectrum app can break.
const (
	RuleSpectrumProtocol       Rule = "spectrum_protocol"          // protocol is not tcp|udp/PORT or tcp|udp/LOW-HIGH
	RuleSpectrumOrigin         Rule = "spectrum_origin"            // an origin_direct URI does not parse
	RuleSpectrumOriginScheme   Rule = "spectrum_origin_scheme"     // origin scheme differs from the protocol's transport
	RuleSpectrumOriginRange    Rule = "spectrum_origin_range"      // origin port range size differs from the edge range
	RuleSpectrumOriginChoice   Rule = "spectrum_origin_choice"     // not exactly one of origin_direct and origin_dns
	RuleSpectrumOriginPort     Rule = "spectrum_origin_port"       // origin_port invalid, or set without origin_dns
	RuleSpectrumOriginDNS      Rule = "spectrum_origin_dns"        // origin_dns name or type invalid
	RuleSpectrumProxyProtocol  Rule = "spectrum_proxy_protocol"    // unknown proxy_protocol, or not valid for the transport
	RuleSpectrumTCPOnly        Rule = "spectrum_tcp_only"          // ip_firewall or argo_smart_routing on a UDP app
	RuleSpectrumTLS            Rule = "spectrum_tls"               // unknown tls mode
	RuleSpectrumTrafficType    Rule = "spectrum_traffic_type"      // unknown traffic_type
	RuleSpectrumEdgeIPs        Rule = "spectrum_edge_ips"          // edge_ips malformed (type, connectivity, ips)
	RuleSpectrumEdgeIPNotOwned Rule = "spectrum_edge_ip_not_owned" // static IP not owned by or delegated to the account
	RuleSpectrumEdgeIPUnbound  Rule = "spectrum_edge_ip_unbound"   // static IP without an active Spectrum binding (strict mode)
	RuleSpectrumDNS            Rule = "spectrum_dns"               // dns type or name invalid
	RuleSpectrumDNSOutsideZone Rule = "spectrum_dns_outside_zone"  // dns name not inside the zone
	RuleSpectrumDNSTypeMode    Rule = "spectrum_dns_type_mode"     // strict mode: static needs ADDRESS, dynamic needs CNAME
	RuleSpectrumHostnameIPs    Rule = "spectrum_hostname_ips"      // apps sharing a hostname must share their edge IPs
	RuleSpectrumPortConflict   Rule = "spectrum_port_conflict"     // another app has the same edge IP, transport and port
	RuleSpectrumPoolExhausted  Rule = "spectrum_pool_exhausted"    // no anycast pool address left for a dynamic app
	RuleSpectrumNameTaken      Rule = "spectrum_name_taken"        // a DNS record of the zone has the app's dns.name
)

// PortRange is an inclusive range of ports; Low == High for one port.
type PortRange struct {
	Low, High uint16
}

// Size is the number of ports in the range.
func (r PortRange) Size() int { return int(r.High) - int(r.Low) + 1 }

// IsRange reports whether the range has more than one port.
func (r PortRange) IsRange() bool { return r.High != r.Low }

// Overlaps reports whether r and o share a port.
func (r PortRange) Overlaps(o PortRange) bool { return r.Low <= o.High && o.Low <= r.High }

// String is "22" or "1000-2000", the form ParsePortRange reads.
func (r PortRange) String() string {
	if !r.IsRange() {
		return strconv.Itoa(int(r.Low))
	}
	return fmt.Sprintf("%d-%d", r.Low, r.High)
}

// parsePort reads a decimal port 1..65535 without sign or leading zeros.
func parsePort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// ParsePortRange reads "PORT" or "LOW-HIGH" (1..65535, LOW < HIGH).
func ParsePortRange(s string) (PortRange, bool) {
	lo, hi, isRange := strings.Cut(s, "-")
	l, ok := parsePort(lo)
	if !ok {
		return PortRange{}, false
	}
	if !isRange {
		return PortRange{l, l}, true
	}
	h, ok := parsePort(hi)
	if !ok || h <= l {
		return PortRange{}, false
	}
	return PortRange{l, h}, true
}

// Protocol is a parsed Spectrum protocol: a transport and the edge ports.
type Protocol struct {
	Transport string // TransportTCP or TransportUDP
	Ports     PortRange
}

func (p Protocol) String() string { return p.Transport + "/" + p.Ports.String() }

// ParseProtocol reads "tcp/22", "udp/53" or "tcp/1000-2000".
func ParseProtocol(s string) (Protocol, error) {
	tr, ports, ok := strings.Cut(s, "/")
	if ok && (tr == TransportTCP || tr == TransportUDP) {
		if r, ok := ParsePortRange(ports); ok {
			return Protocol{Transport: tr, Ports: r}, nil
		}
	}
	return Protocol{}, broke(RuleSpectrumProtocol, "protocol %q is not tcp/PORT, udp/PORT or tcp|udp/LOW-HIGH with ports 1-65535 and LOW < HIGH", s)
}

// Origin is a parsed origin_direct URI.
type Origin struct {
	Transport string
	Addr      netip.Addr
	Ports     PortRange
}

// String is the canonical URI: lowercase scheme, IPv6 in brackets.
func (o Origin) String() string {
	host := o.Addr.String()
	if o.Addr.Is6() {
		host = "[" + host + "]"
	}
	return o.Transport + "://" + host + ":" + o.Ports.String()
}

// ParseOrigin reads an origin_direct URI: tcp://IP:PORT, udp://IP:PORT,
// tcp://IP:LOW-HIGH, with IPv6 addresses in brackets.
func ParseOrigin(s string) (Origin, error) {
	bad := broke(RuleSpectrumOrigin, "origin %q is not tcp:// or udp:// followed by IP:PORT or IP:LOW-HIGH (IPv6 in brackets)", s)
	tr, rest, ok := strings.Cut(s, "://")
	if !ok || (tr != TransportTCP && tr != TransportUDP) {
		return Origin{}, bad
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return Origin{}, bad
	}
	host, ports := rest[:i], rest[i+1:]
	v6 := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	if v6 {
		host = host[1 : len(host)-1]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" || a.Is4In6() || a.Is6() != v6 {
		return Origin{}, bad
	}
	r, ok := ParsePortRange(ports)
	if !ok {
		return Origin{}, bad
	}
	return Origin{Transport: tr, Addr: a, Ports: r}, nil
}

// SpectrumDNS is the app's hostname and how DNS answers it.
type SpectrumDNS struct {
	Type string `json:"type"` // DNSTypeAddress or DNSTypeCNAME
	Name string `json:"name"` // lowercase, no trailing dot
}

// OriginDNS names the origin by DNS instead of by address.
type OriginDNS struct {
	Name string `json:"name"`
	TTL  int64  `json:"ttl"`
	Type string `json:"type"` // "", "A", "AAAA" or "SRV"
}

// SpectrumEdgeIPs are the edge addresses of an app. For dynamic apps IPs
// holds the addresses allocated from the anycast pool.
type SpectrumEdgeIPs struct {
	Type         string       `json:"type"`
	Connectivity string       `json:"connectivity,omitempty"` // dynamic only
	IPs          []netip.Addr `json:"ips,omitempty"`
}

// SpectrumApp is an L4 proxy application of a zone.
type SpectrumApp struct {
	ID               string          `json:"id"`
	ZoneID           string          `json:"zone_id"`
	ZoneName         string          `json:"zone_name"`
	AccountID        string          `json:"account_id"` // the zone's account
	Protocol         string          `json:"protocol"`   // canonical, see ParseProtocol
	DNS              SpectrumDNS     `json:"dns"`
	OriginDirect     []string        `json:"origin_direct,omitempty"` // canonical, see ParseOrigin
	OriginDNS        *OriginDNS      `json:"origin_dns,omitempty"`
	OriginPort       *PortRange      `json:"origin_port,omitempty"` // only with OriginDNS
	ProxyProtocol    string          `json:"proxy_protocol"`
	IPFirewall       bool            `json:"ip_firewall"`
	ArgoSmartRouting bool            `json:"argo_smart_routing"`
	TLS              string          `json:"tls"`
	TrafficType      string          `json:"traffic_type"`
	EdgeIPs          SpectrumEdgeIPs `json:"edge_ips"`
	CreatedOn        time.Time       `json:"created_on"`
	ModifiedOn       time.Time       `json:"modified_on"`
}

// Clone returns a deep copy of a.
func (a *SpectrumApp) Clone() *SpectrumApp {
	c := *a
	c.OriginDirect = slices.Clone(a.OriginDirect)
	c.EdgeIPs.IPs = slices.Clone(a.EdgeIPs.IPs)
	if a.OriginDNS != nil {
		v := *a.OriginDNS
		c.OriginDNS = &v
	}
	if a.OriginPort != nil {
		v := *a.OriginPort
		c.OriginPort = &v
	}
	return &c
}

// InZone reports whether name (lowercase, no trailing dot) is zone or a
// name below it.
func InZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// CheckSpectrumFields checks everything about an app that does not depend
// on the state: protocol, origins, enums and their transport restrictions,
// dns and edge_ips syntax. It canonicalizes Protocol and OriginDirect.
func CheckSpectrumFields(a *SpectrumApp) error {
	p, err := ParseProtocol(a.Protocol)
	if err != nil {
		return err
	}
	a.Protocol = p.String()
	switch {
	case len(a.OriginDirect) > 0 && a.OriginDNS != nil, len(a.OriginDirect) == 0 && a.OriginDNS == nil:
		return broke(RuleSpectrumOriginChoice, "set exactly one of origin_direct and origin_dns")
	}
	for i, s := range a.OriginDirect {
		o, err := ParseOrigin(s)
		if err != nil {
			return err
		}
		if o.Transport != p.Transport {
			return broke(RuleSpectrumOriginScheme, "origin %q uses %s but the protocol is %s", s, o.Transport, p.Transport)
		}
		if o.Ports.IsRange() && o.Ports.Size() != p.Ports.Size() {
			return broke(RuleSpectrumOriginRange, "origin %q has %d ports but the protocol %s has %d", s, o.Ports.Size(), p, p.Ports.Size())
		}
		if !o.Ports.IsRange() && p.Ports.IsRange() {
			return broke(RuleSpectrumOriginRange, "origin %q has one port but the protocol %s has %d", s, p, p.Ports.Size())
		}
		a.OriginDirect[i] = o.String()
	}
	if a.OriginPort != nil {
		if a.OriginDNS == nil {
			return broke(RuleSpectrumOriginPort, "origin_port is only valid with origin_dns")
		}
		if r := *a.OriginPort; r.IsRange() && r.Size() != p.Ports.Size() || !r.IsRange() && p.Ports.IsRange() {
			return broke(RuleSpectrumOriginRange, "origin_port %s has %d ports but the protocol %s has %d", r, r.Size(), p, p.Ports.Size())
		}
	}
	if o := a.OriginDNS; o != nil {
		o.Name = strings.ToLower(strings.TrimSuffix(o.Name, "."))
		if !validHostname(o.Name) {
			return broke(RuleSpectrumOriginDNS, "origin_dns.name %q is not a DNS name", o.Name)
		}
		if !slices.Contains([]string{"", "A", "AAAA", "SRV"}, o.Type) {
			return broke(RuleSpectrumOriginDNS, "origin_dns.type %q is not one of \"\", A, AAAA, SRV", o.Type)
		}
		if o.TTL < 0 {
			return broke(RuleSpectrumOriginDNS, "origin_dns.ttl %d is negative", o.TTL)
		}
	}
	switch a.ProxyProtocol {
	case ProxyProtocolOff, ProxyProtocolV2:
	case ProxyProtocolV1:
		if p.Transport != TransportTCP {
			return broke(RuleSpectrumProxyProtocol, "proxy_protocol v1 is only available for tcp applications")
		}
	case ProxyProtocolSimple:
		if p.Transport != TransportUDP {
			return broke(RuleSpectrumProxyProtocol, "proxy_protocol simple is only available for udp applications")
		}
	default:
		return broke(RuleSpectrumProxyProtocol, "proxy_protocol %q is not one of off, v1, v2, simple", a.ProxyProtocol)
	}
	if p.Transport != TransportTCP && (a.IPFirewall || a.ArgoSmartRouting) {
		return broke(RuleSpectrumTCPOnly, "ip_firewall and argo_smart_routing are only available for tcp applications")
	}
	if !slices.Contains([]string{TLSOff, TLSFlexible, TLSFull, TLSStrict}, a.TLS) {
		return broke(RuleSpectrumTLS, "tls %q is not one of off, flexible, full, strict", a.TLS)
	}
	if !slices.Contains([]string{TrafficDirect, TrafficHTTP, TrafficHTTPS}, a.TrafficType) {
		return broke(RuleSpectrumTrafficType, "traffic_type %q is not one of direct, http, https", a.TrafficType)
	}
	a.DNS.Name = strings.ToLower(strings.TrimSuffix(a.DNS.Name, "."))
	if a.DNS.Type != DNSTypeAddress && a.DNS.Type != DNSTypeCNAME {
		return broke(RuleSpectrumDNS, "dns.type %q is not ADDRESS or CNAME", a.DNS.Type)
	}
	if !validHostname(a.DNS.Name) {
		return broke(RuleSpectrumDNS, "dns.name %q is not a DNS name", a.DNS.Name)
	}
	e := &a.EdgeIPs
	switch e.Type {
	case EdgeIPsDynamic:
		if !slices.Contains([]string{ConnectivityAll, ConnectivityIPv4, ConnectivityIPv6}, e.Connectivity) {
			return broke(RuleSpectrumEdgeIPs, "edge_ips.connectivity %q is not one of all, ipv4, ipv6", e.Connectivity)
		}
	case EdgeIPsStatic:
		if e.Connectivity != "" {
			return broke(RuleSpectrumEdgeIPs, "edge_ips.connectivity is only valid with type dynamic")
		}
		if len(e.IPs) == 0 {
			return broke(RuleSpectrumEdgeIPs, "edge_ips of type static need at least one ip")
		}
		seen := map[netip.Addr]bool{}
		for _, ip := range e.IPs {
			if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() || seen[ip] {
				return broke(RuleSpectrumEdgeIPs, "edge_ips.ips has an invalid or duplicate address %s", ip)
			}
			seen[ip] = true
		}
		slices.SortFunc(e.IPs, netip.Addr.Compare)
	default:
		return broke(RuleSpectrumEdgeIPs, "edge_ips.type %q is not dynamic or static", e.Type)
	}
	return nil
}

// SpectrumEnv is what CheckSpectrumApp needs beyond the State.
type SpectrumEnv struct {
	Zone   Zone
	Pool   []netip.Prefix // the edge's anycast pool for dynamic apps
	Strict bool           // Rules.SpectrumStrict
	Now    time.Time
}

// AccountOwns reports whether addr lies in a prefix of account, or in a
// delegation to it.
func (st *State) AccountOwns(account string, addr netip.Addr) bool {
	for _, p := range st.Prefixes {
		if p.AccountID == account && p.CIDR.Contains(addr) {
			return true
		}
	}
	for _, d := range st.Delegations {
		if d.DelegatedAccountID == account && d.CIDR.Contains(addr) {
			return true
		}
	}
	return false
}

// BindingFor returns the most specific binding covering addr.
func (st *State) BindingFor(addr netip.Addr) (*Binding, bool) {
	var best *Binding
	for _, b := range st.Bindings {
		if b.CIDR.Contains(addr) && (best == nil || b.CIDR.Bits() > best.CIDR.Bits()) {
			best = b
		}
	}
	return best, best != nil
}

// CheckSpectrumApp checks app (already through CheckSpectrumFields) against
// st and env, and allocates the addresses of a dynamic app. It returns
// warnings (RuleErrors the client sees in messages) for static IPs without
// an active Spectrum binding; strict mode turns them into errors.
func CheckSpectrumApp(st *State, a *SpectrumApp, env SpectrumEnv) (warnings []*RuleError, err error) {
	zone := strings.ToLower(strings.TrimSuffix(env.Zone.Name, "."))
	if !InZone(a.DNS.Name, zone) {
		return nil, broke(RuleSpectrumDNSOutsideZone, "dns.name %q is not inside the zone %s", a.DNS.Name, zone)
	}
	for _, r := range st.DNSRecords {
		if r.ZoneID == a.ZoneID && r.Name == a.DNS.Name {
			return nil, broke(RuleSpectrumNameTaken, "the zone has a %s record for %s (%s); a spectrum app needs the name for itself", r.Type, r.Name, r.ID)
		}
	}
	if env.Strict {
		if a.EdgeIPs.Type == EdgeIPsStatic && a.DNS.Type != DNSTypeAddress {
			return nil, broke(RuleSpectrumDNSTypeMode, "static edge ips are only valid with ADDRESS dns names")
		}
		if a.EdgeIPs.Type == EdgeIPsDynamic && a.DNS.Type != DNSTypeCNAME {
			return nil, broke(RuleSpectrumDNSTypeMode, "dynamic edge ips are only valid with CNAME dns names")
		}
	}
	if a.EdgeIPs.Type == EdgeIPsStatic {
		for _, ip := range a.EdgeIPs.IPs {
			if !st.AccountOwns(a.AccountID, ip) {
				return nil, broke(RuleSpectrumEdgeIPNotOwned, "edge ip %s is not in a prefix owned by or delegated to the account", ip)
			}
			b, ok := st.BindingFor(ip)
			if ok && b.State(env.Now) == BindingActive && b.ServiceID == Services()[2].ID {
				continue
			}
			w := &RuleError{Rule: RuleSpectrumEdgeIPUnbound, Msg: fmt.Sprintf("edge ip %s has no active spectrum service binding; it will not be served until one covers it", ip)}
			if env.Strict {
				return nil, w
			}
			warnings = append(warnings, w)
		}
	}
	// Apps sharing a hostname share their edge IPs.
	var sibling *SpectrumApp
	for _, o := range sortedApps(st) {
		if o.ID != a.ID && o.DNS.Name == a.DNS.Name {
			sibling = o
			break
		}
	}
	if sibling != nil {
		se, ae := sibling.EdgeIPs, a.EdgeIPs
		if se.Type != ae.Type || se.Connectivity != ae.Connectivity || ae.Type == EdgeIPsStatic && !slices.Equal(se.IPs, ae.IPs) {
			return nil, broke(RuleSpectrumHostnameIPs, "app %s already serves %s with other edge ips; apps sharing a hostname must use the same edge_ips", sibling.ID, a.DNS.Name)
		}
	}
	if a.EdgeIPs.Type == EdgeIPsDynamic {
		if sibling != nil {
			a.EdgeIPs.IPs = slices.Clone(sibling.EdgeIPs.IPs)
		} else if ips, err := allocate(st, a, env.Pool); err != nil {
			return nil, err
		} else {
			a.EdgeIPs.IPs = ips
		}
	}
	p, _ := ParseProtocol(a.Protocol)
	for _, o := range sortedApps(st) {
		if o.ID == a.ID {
			continue
		}
		op, err := ParseProtocol(o.Protocol)
		if err != nil || op.Transport != p.Transport || !op.Ports.Overlaps(p.Ports) {
			continue
		}
		for _, ip := range a.EdgeIPs.IPs {
			if slices.Contains(o.EdgeIPs.IPs, ip) {
				return nil, broke(RuleSpectrumPortConflict, "app %s already serves %s %s on edge ip %s", o.ID, op.Transport, op.Ports, ip)
			}
		}
	}
	return warnings, nil
}

// sortedApps returns the apps of st by creation time, then ID.
func sortedApps(st *State) []*SpectrumApp {
	out := make([]*SpectrumApp, 0, len(st.SpectrumApps))
	for _, a := range st.SpectrumApps {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y *SpectrumApp) int { return cmp.Or(x.CreatedOn.Compare(y.CreatedOn), cmp.Compare(x.ID, y.ID)) })
	return out
}

// maxProbe bounds the search for a free pool address per pool prefix.
const maxProbe = 1 << 16

// allocate picks one pool address per family the app's connectivity asks
// for: starting at a hash of the app's hostname, the first address of the
// pool (host part not zero) that no app of another hostname uses. The same
// hostname and state always give the same addresses.
func allocate(st *State, a *SpectrumApp, pool []netip.Prefix) ([]netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, o := range st.SpectrumApps {
		if o.ID != a.ID && o.DNS.Name != a.DNS.Name {
			for _, ip := range o.EdgeIPs.IPs {
				used[ip] = true
			}
		}
	}
	h := fnv.New64a()
	h.Write([]byte(a.DNS.Name))
	seed := h.Sum64()
	var out []netip.Addr
	for _, want4 := range []bool{true, false} {
		c := a.EdgeIPs.Connectivity
		if want4 && c == ConnectivityIPv6 || !want4 && c == ConnectivityIPv4 {
			continue
		}
		ip, ok := pickFree(pool, want4, seed, used)
		if !ok {
			fam := "ipv6"
			if want4 {
				fam = "ipv4"
			}
			return nil, broke(RuleSpectrumPoolExhausted, "the edge's anycast pool has no free %s address for a dynamic app", fam)
		}
		out = append(out, ip)
	}
	return out, nil
}

func pickFree(pool []netip.Prefix, want4 bool, seed uint64, used map[netip.Addr]bool) (netip.Addr, bool) {
	for _, p := range pool {
		if p.Addr().Is4() != want4 {
			continue
		}
		hostBits := p.Addr().BitLen() - p.Bits()
		size := new(big.Int).Lsh(big.NewInt(1), uint(hostBits))
		base := new(big.Int).SetBytes(p.Addr().AsSlice())
		start := new(big.Int).Mod(new(big.Int).SetUint64(seed), size)
		n := int64(maxProbe)
		if size.IsInt64() && size.Int64() < n {
			n = size.Int64()
		}
		for i := range n {
			off := new(big.Int).Add(start, big.NewInt(i))
			off.Mod(off, size)
			if off.Cmp(big.NewInt(1)) <= 0 {
				continue // the prefix's own address, and the default anycast address (PoolAnycastAddrs)
			}
			b := new(big.Int).Add(base, off).FillBytes(make([]byte, p.Addr().BitLen()/8))
			ip, _ := netip.AddrFromSlice(b)
			if !used[ip] {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}
