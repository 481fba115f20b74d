package bgp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// DefaultLocalAS is the AS the speaker uses when Options.LocalAS is zero.
const DefaultLocalAS = 13335

// Attrs are the path attributes of one announced prefix. ORIGIN is always
// IGP and the next hop comes from Options (or the session), so neither is
// configurable here. The zero value announces with AS_PATH [LocalAS] and no
// communities.
type Attrs struct {
	// ASPath is the AS_PATH an eBGP peer receives. Its first element must be
	// the speaker's local AS: BGP itself prepends that AS on eBGP export, so
	// the speaker hands only the rest to GoBGP. A peer configured with its
	// own PeerConfig.LocalAS sees that AS in first place instead. Empty means
	// [LocalAS]. Use ASPath to build it.
	ASPath []uint32
	// Communities are RFC 1997 communities, each ASN<<16 | value.
	Communities []uint32
	// LargeCommunities are RFC 8092 communities {global admin, data1, data2}.
	LargeCommunities [][3]uint32
}

// Equal reports whether a and b announce the same attributes.
func (a Attrs) Equal(b Attrs) bool {
	return slices.Equal(a.ASPath, b.ASPath) &&
		slices.Equal(a.Communities, b.Communities) &&
		slices.Equal(a.LargeCommunities, b.LargeCommunities)
}

// key is a compact, comparable encoding of a used to share encoded
// attributes between prefixes.
func (a Attrs) key() string {
	b := make([]byte, 0, 4*(3+len(a.ASPath)+len(a.Communities)+3*len(a.LargeCommunities)))
	put := func(v uint32) { b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v)) }
	put(uint32(len(a.ASPath)))
	for _, v := range a.ASPath {
		put(v)
	}
	put(uint32(len(a.Communities)))
	for _, v := range a.Communities {
		put(v)
	}
	put(uint32(len(a.LargeCommunities)))
	for _, v := range a.LargeCommunities {
		put(v[0])
		put(v[1])
		put(v[2])
	}
	return string(b)
}

// Route is one prefix to announce with its attributes.
type Route struct {
	Prefix netip.Prefix
	Attrs  Attrs
}

// PeerConfig describes one BGP neighbor. Peers are keyed by Address.
type PeerConfig struct {
	// Address is the neighbor's address; IPv4-mapped IPv6 is rejected.
	Address netip.Addr
	// PeerAS is the neighbor's AS (required).
	PeerAS uint32
	// LocalAS overrides Options.LocalAS for this session when non-zero.
	LocalAS uint32
	// LocalAddress is the source address of the session; zero picks it
	// from the routing table.
	LocalAddress netip.Addr
	// Password enables TCP MD5 signatures (RFC 2385) when non-empty.
	Password string
	// MultihopTTL enables eBGP multihop with this TTL when non-zero.
	MultihopTTL uint8
	// HoldTime defaults to 90s; it must be 0 or at least 3s, in whole seconds.
	HoldTime time.Duration
	// KeepaliveInterval defaults to HoldTime/3 and must be below HoldTime.
	KeepaliveInterval time.Duration
	// ConnectRetry is the time between connection attempts; default 5s
	// (GoBGP's own default of 120s makes restarts look like hangs).
	ConnectRetry time.Duration
	// GracefulRestart advertises the RFC 4724 capability for the unicast
	// families; the peer then keeps our routes as stale for RestartTime
	// when the session drops without a NOTIFICATION (see Speaker.Close).
	GracefulRestart bool
	// RestartTime defaults to 120s and must be below 4096s.
	RestartTime time.Duration
	// Passive waits for the neighbor to connect instead of dialing.
	Passive bool
	// Port is the neighbor's TCP port; 0 means 179. Meant for tests.
	Port uint16
}

// Options configure a Speaker. RouterID is required.
type Options struct {
	// RouterID is the BGP identifier, an IPv4 address.
	RouterID netip.Addr
	// LocalAS defaults to DefaultLocalAS (13335).
	LocalAS uint32
	// ListenPort is the TCP port for incoming sessions; 0 means the speaker
	// does not listen and only dials out.
	ListenPort int
	// ListenAddrs restricts the listener; empty means all addresses.
	ListenAddrs []netip.Addr
	// NextHop4 is the next hop of IPv4 routes; zero means the session's
	// local address. When set, sessions over IPv6 also carry IPv4 unicast.
	NextHop4 netip.Addr
	// NextHop6 is the global next hop of IPv6 routes; zero means the
	// session's local address. When set, sessions over IPv4 also carry IPv6
	// unicast (without it GoBGP would send an IPv4-mapped next hop).
	NextHop6 netip.Addr
	// Logger receives peer transitions and GoBGP's warnings; nil discards.
	Logger *slog.Logger
}

// PeerState is the BGP FSM state of a session.
type PeerState string

// The FSM states (RFC 4271 §8.2.2), as Status reports them.
const (
	StateUnknown     PeerState = "unknown"
	StateIdle        PeerState = "idle"
	StateConnect     PeerState = "connect"
	StateActive      PeerState = "active"
	StateOpenSent    PeerState = "opensent"
	StateOpenConfirm PeerState = "openconfirm"
	StateEstablished PeerState = "established"
)

// PeerStatus is a point-in-time view of one session.
type PeerStatus struct {
	Address netip.Addr
	PeerAS  uint32
	State   PeerState
	// Uptime is the time since the session reached Established; zero when
	// it is not Established.
	Uptime time.Duration
	// PrefixesSent counts the announced prefixes of the families the
	// session carries while it is Established (derived from the Sync set,
	// which the export policy makes exact, rather than asking GoBGP to
	// recompute its export per call).
	PrefixesSent int
	// PrefixesReceived counts prefixes the peer sent us (all families); the
	// speaker never uses them.
	PrefixesReceived int
	// LastError is the reason of the last session drop or error, if any.
	LastError string
}

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("bgp: speaker closed")

func (o *Options) localAS() uint32 {
	if o.LocalAS == 0 {
		return DefaultLocalAS
	}
	return o.LocalAS
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	if !o.RouterID.Is4() {
		errs = append(errs, fmt.Errorf("router id %q: must be an IPv4 address", o.RouterID))
	} else if o.RouterID.IsUnspecified() {
		errs = append(errs, fmt.Errorf("router id %q: must not be unspecified", o.RouterID))
	}
	if o.ListenPort < 0 || o.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("listen port %d: out of range 0..65535", o.ListenPort))
	}
	for _, a := range o.ListenAddrs {
		if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
			errs = append(errs, fmt.Errorf("listen address %q: must be a plain IPv4 or IPv6 address", a))
		}
	}
	if o.NextHop4.IsValid() && (!o.NextHop4.Is4() || o.NextHop4.IsUnspecified()) {
		errs = append(errs, fmt.Errorf("next hop v4 %q: must be a specified IPv4 address", o.NextHop4))
	}
	if o.NextHop6.IsValid() && (!o.NextHop6.Is6() || o.NextHop6.Is4In6() || o.NextHop6.IsUnspecified() || o.NextHop6.IsLinkLocalUnicast() || o.NextHop6.Zone() != "") {
		errs = append(errs, fmt.Errorf("next hop v6 %q: must be a global IPv6 address", o.NextHop6))
	}
	return errors.Join(errs...)
}

func wholeSeconds(d time.Duration) bool { return d%time.Second == 0 }

// Validate reports every problem with c at once.
func (c *PeerConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("peer %s: %s: %s", c.Address, field, fmt.Sprintf(format, args...)))
	}
	if !c.Address.IsValid() || c.Address.IsUnspecified() {
		bad("address", "must be a specified IP address")
	} else if c.Address.Is4In6() {
		bad("address", "must not be IPv4-mapped IPv6 (use the IPv4 form)")
	}
	if c.PeerAS == 0 {
		bad("peer_as", "required")
	}
	if c.LocalAddress.IsValid() && c.Address.IsValid() && c.LocalAddress.Is4() != c.Address.Is4() {
		bad("local_address", "%s is not of the neighbor's family", c.LocalAddress)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"hold_time", c.HoldTime}, {"keepalive_interval", c.KeepaliveInterval}, {"connect_retry", c.ConnectRetry}, {"restart_time", c.RestartTime}} {
		if d.v < 0 || !wholeSeconds(d.v) {
			bad(d.name, "%v must be a non-negative whole number of seconds", d.v)
		}
	}
	if c.HoldTime != 0 && c.HoldTime < 3*time.Second {
		bad("hold_time", "%v must be 0 or at least 3s", c.HoldTime)
	}
	if c.HoldTime > 65535*time.Second {
		bad("hold_time", "%v exceeds 65535s", c.HoldTime)
	}
	if c.KeepaliveInterval != 0 && c.KeepaliveInterval >= c.holdTime() {
		bad("keepalive_interval", "%v must be below the hold time %v", c.KeepaliveInterval, c.holdTime())
	}
	if c.RestartTime >= 4096*time.Second {
		bad("restart_time", "%v must be below 4096s", c.RestartTime)
	}
	if c.RestartTime != 0 && !c.GracefulRestart {
		bad("restart_time", "set without graceful_restart")
	}
	return errors.Join(errs...)
}

func (c *PeerConfig) holdTime() time.Duration {
	if c.HoldTime == 0 {
		return 90 * time.Second
	}
	return c.HoldTime
}

func (c *PeerConfig) connectRetry() time.Duration {
	if c.ConnectRetry == 0 {
		return 5 * time.Second
	}
	return c.ConnectRetry
}

func (c *PeerConfig) restartTime() time.Duration {
	if c.RestartTime == 0 {
		return 120 * time.Second
	}
	return c.RestartTime
}

// validateRoutes checks a Sync set and returns it keyed by prefix.
func validateRoutes(routes []Route, localAS uint32) (map[netip.Prefix]Attrs, error) {
	m := make(map[netip.Prefix]Attrs, len(routes))
	var errs []error
	for _, r := range routes {
		p := r.Prefix
		switch {
		case !p.IsValid():
			errs = append(errs, fmt.Errorf("route %q: invalid prefix", p))
			continue
		case p.Addr().Is4In6():
			errs = append(errs, fmt.Errorf("route %q: IPv4-mapped IPv6 prefix (use the IPv4 form)", p))
			continue
		case p.Addr().Zone() != "":
			errs = append(errs, fmt.Errorf("route %q: zoned prefix", p))
			continue
		case p != p.Masked():
			errs = append(errs, fmt.Errorf("route %q has non-address bits set; expected %s", p, p.Masked()))
			continue
		}
		if len(r.Attrs.ASPath) > 0 && r.Attrs.ASPath[0] != localAS {
			errs = append(errs, fmt.Errorf("route %s: as path %v must start with the local AS %d", p, r.Attrs.ASPath, localAS))
			continue
		}
		if slices.Contains(r.Attrs.ASPath, 0) {
			errs = append(errs, fmt.Errorf("route %s: as path %v contains AS 0", p, r.Attrs.ASPath))
			continue
		}
		if old, dup := m[p]; dup && !old.Equal(r.Attrs) {
			errs = append(errs, fmt.Errorf("route %s: listed twice with different attributes", p))
			continue
		}
		m[p] = r.Attrs
	}
	return m, errors.Join(errs...)
}
