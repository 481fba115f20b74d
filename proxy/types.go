package proxy

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Transport is the L4 protocol of an app or listener.
type Transport uint8

// Transports.
const (
	TCP Transport = iota + 1
	UDP
)

func (t Transport) String() string {
	switch t {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "unknown"
}

// ProxyProtocol is how the client's address is passed to the origin
// (Spectrum proxy_protocol).
type ProxyProtocol uint8

// Proxy protocols. V1 is TCP only; Simple is UDP only; V2 works for both and,
// for UDP, is written on the first datagram of a flow only (as Cloudflare
// documents), not on every datagram.
const (
	ProxyOff ProxyProtocol = iota
	ProxyV1
	ProxyV2
	ProxySimple
)

func (pp ProxyProtocol) String() string {
	switch pp {
	case ProxyOff:
		return "off"
	case ProxyV1:
		return "v1"
	case ProxyV2:
		return "v2"
	case ProxySimple:
		return "simple"
	}
	return "unknown"
}

// App is one Spectrum application as the data plane sees it. An App is
// read-only once it is reachable from a stored Config; use it by pointer
// (it holds an internal counter cache and must not be copied).
type App struct {
	ID, ZoneID string
	Transport  Transport
	// EdgePortLow..EdgePortHigh is the edge port range (High == Low, or 0,
	// for a single port).
	EdgePortLow, EdgePortHigh uint16
	// Origins is origin_direct, tried in order (failover on connect error
	// or timeout). When OriginPortLow is set, each origin's port is ignored
	// and the origin port is OriginPortLow + (edge port - EdgePortLow).
	Origins []netip.AddrPort
	// OriginPortLow..OriginPortHigh is an origin port range (origin_direct
	// with a range, or origin_port with origin_dns). Zero: use the port in
	// Origins (or the SRV record's port).
	OriginPortLow, OriginPortHigh uint16
	// OriginDNS, when set, replaces Origins: the name is resolved (cached
	// for TTL) and the addresses are tried in order.
	OriginDNS     *OriginDNS
	ProxyProtocol ProxyProtocol
	// IPFirewall enables the Config's Firewall for this app.
	IPFirewall bool

	metrics atomic.Pointer[appMetrics] // counter cache; not part of the config
}

// OriginDNS is Spectrum's origin_dns.
type OriginDNS struct {
	Name string
	// Type is "" (A and AAAA), "A", "AAAA" or "SRV".
	Type string
	// TTL caps how long a resolution is cached; zero uses the records' TTL.
	TTL time.Duration
}

// originPort maps an edge port to the origin port, given the origin's own
// port (from origin_direct or SRV).
func (a *App) originPort(edgePort, own uint16) uint16 {
	if a.OriginPortLow == 0 {
		return own
	}
	if a.OriginPortHigh > a.OriginPortLow && edgePort >= a.EdgePortLow {
		return a.OriginPortLow + (edgePort - a.EdgePortLow)
	}
	return a.OriginPortLow
}

// Verdict is the Table's answer for a destination.
type Verdict uint8

// Verdicts.
const (
	// NotServed: the destination is not served (binding not active, prefix
	// not advertised, unknown IP). TCP is reset, UDP dropped.
	NotServed Verdict = iota
	// NoApp: a served IP with no app on that transport and port. TCP is
	// closed at once, with no origin connection.
	NoApp
	// Serve: proxy to the returned App.
	Serve
)

func (v Verdict) String() string {
	switch v {
	case NotServed:
		return "not_served"
	case NoApp:
		return "no_app"
	case Serve:
		return "serve"
	}
	return "unknown"
}

// Table maps a destination (edge IP, transport, port) to an app. Route is
// called once per TCP connection and once per new UDP flow, concurrently;
// implementations must be safe for concurrent reads and must not block.
type Table interface {
	Route(dst netip.Addr, t Transport, port uint16) (*App, Verdict)
}

// TableFunc adapts a function to a Table (e.g. a closure over an lpm table).
type TableFunc func(dst netip.Addr, t Transport, port uint16) (*App, Verdict)

// Route calls f.
func (f TableFunc) Route(dst netip.Addr, t Transport, port uint16) (*App, Verdict) {
	return f(dst, t, port)
}

// StaticTable is a small Table for tests and examples: the most specific
// prefix containing the destination decides. It is read-only once used.
type StaticTable []StaticRoute

// StaticRoute serves a prefix with a set of apps.
type StaticRoute struct {
	Prefix netip.Prefix
	Apps   []*App
}

// Route implements Table.
func (st StaticTable) Route(dst netip.Addr, t Transport, port uint16) (*App, Verdict) {
	dst = dst.Unmap()
	best := -1
	for i := range st {
		if st[i].Prefix.Contains(dst) && (best < 0 || st[i].Prefix.Bits() > st[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return nil, NotServed
	}
	for _, a := range st[best].Apps {
		hi := max(a.EdgePortHigh, a.EdgePortLow)
		if a.Transport == t && port >= a.EdgePortLow && port <= hi {
			return a, Serve
		}
	}
	return nil, NoApp
}

// Firewall decides per client address whether an app with IPFirewall set
// may be used; it returns true to allow. It runs at accept time (TCP) or
// flow creation (UDP), before any origin connection, and must be safe for
// concurrent use.
type Firewall func(app *App, client netip.Addr) bool

// Action is an IP access rule's mode.
type Action uint8

// Access rule actions. Block and Challenge refuse (Spectrum cannot
// challenge), Whitelist allows.
const (
	Whitelist Action = iota + 1
	Block
	Challenge
)

// AccessRule is one IP access rule on a client address or prefix.
type AccessRule struct {
	Prefix netip.Prefix
	Action Action
}

// Rules returns a Firewall from access rules: the most specific matching
// prefix decides (a whitelist wins a tie); no match allows. The rules are
// copied.
func Rules(rules []AccessRule) Firewall {
	rs := append([]AccessRule(nil), rules...)
	for i := range rs {
		rs[i].Prefix = rs[i].Prefix.Masked()
	}
	return func(_ *App, client netip.Addr) bool {
		client = client.Unmap()
		bits, allow := -1, true
		for _, r := range rs {
			if !r.Prefix.Contains(client) {
				continue
			}
			b := r.Prefix.Bits()
			if b > bits || (b == bits && r.Action == Whitelist) {
				bits, allow = b, r.Action == Whitelist
			}
		}
		return allow
	}
}

// Config is what the proxy serves: an immutable routing table and firewall,
// swapped as a whole with Proxy.Store. A nil Table serves nothing.
type Config struct {
	Table    Table
	Firewall Firewall
}

// Options configure New. Zero fields take the documented defaults.
type Options struct {
	// Logger; nil discards. Nothing is logged per connection above Debug.
	Logger *slog.Logger
	// Registerer for the edgesim_proxy_* metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// IdleTimeout closes a TCP connection idle in both directions
	// (default 900s).
	IdleTimeout time.Duration
	// DialTimeout bounds each origin connect attempt (default 15s).
	DialTimeout time.Duration
	// KeepAlive is the TCP keepalive period on both sides. Zero (the
	// default) leaves keepalive off, as HAProxy does unless told otherwise:
	// it costs 4 setsockopt calls per socket, and IdleTimeout already
	// bounds dead connections.
	KeepAlive time.Duration
	// Resolver is the DNS server ("host:port") for origin_dns; empty reads
	// /etc/resolv.conf.
	Resolver string
	// MaxUDPFlows bounds the UDP flow table (default 65536); datagrams of
	// new flows beyond it are dropped.
	MaxUDPFlows int
	// UDPIdleTimeout expires a UDP flow with no traffic (default 60s).
	UDPIdleTimeout time.Duration
	// UDPBufferSize is the largest datagram relayed (default 9216 bytes);
	// longer datagrams are dropped and counted.
	UDPBufferSize int
}

func (o *Options) idleTimeout() time.Duration { return orDefault(o.IdleTimeout, 900*time.Second) }
func (o *Options) dialTimeout() time.Duration { return orDefault(o.DialTimeout, 15*time.Second) }
func (o *Options) udpIdle() time.Duration     { return orDefault(o.UDPIdleTimeout, 60*time.Second) }
func (o *Options) maxUDPFlows() int           { return orDefault(o.MaxUDPFlows, 65536) }
func (o *Options) udpBufferSize() int         { return orDefault(o.UDPBufferSize, 9216) }

func (o *Options) keepAlive() time.Duration {
	if o.KeepAlive <= 0 {
		return -1 // net's "disabled"
	}
	return o.KeepAlive
}

func orDefault[T int | time.Duration](v, d T) T {
	if v == 0 {
		return d
	}
	return v
}
