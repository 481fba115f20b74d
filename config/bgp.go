package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// BGP configures the edge's BGP speaker. With no peers the speaker does not
// run.
type BGP struct {
	// RouterID is the speaker's BGP identifier (an IPv4 address). Required
	// when peers are configured.
	RouterID string `yaml:"router_id"`
	// LocalAS is the edge's AS. Default 13335.
	LocalAS uint32 `yaml:"local_as"`
	// ListenPort is the TCP port to accept sessions on; 0 (the default)
	// only dials out.
	ListenPort int `yaml:"listen_port"`
	// ListenAddresses restrict where ListenPort accepts; default all.
	ListenAddresses []string `yaml:"listen_addresses"`
	// NextHop4 and NextHop6 are the next hops of announced IPv4 and IPv6
	// routes; default the session's local address (IPv6 routes on an IPv4
	// session need NextHop6).
	NextHop4 string `yaml:"next_hop4"`
	NextHop6 string `yaml:"next_hop6"`
	// Communities ("13335:100") and large communities ("13335:1:2") are
	// attached to every announcement.
	Communities      []string `yaml:"communities"`
	LargeCommunities []string `yaml:"large_communities"`
	Peers            []Peer   `yaml:"peers"`
}

// Peer is one BGP neighbour.
type Peer struct {
	Address string `yaml:"address"`
	PeerAS  uint32 `yaml:"peer_as"`
	// LocalAS overrides BGP.LocalAS for this session.
	LocalAS      uint32 `yaml:"local_as"`
	LocalAddress string `yaml:"local_address"`
	// Password enables TCP MD5 signatures (RFC 2385).
	Password string `yaml:"password"`
	// MultihopTTL allows eBGP over more than one hop; 0 means directly
	// connected.
	MultihopTTL uint8 `yaml:"multihop_ttl"`
	// Timers; zero means the speaker's defaults (hold 90s, keepalive 30s,
	// connect retry 5s).
	HoldTime     Duration `yaml:"hold_time"`
	Keepalive    Duration `yaml:"keepalive"`
	ConnectRetry Duration `yaml:"connect_retry"`
	// GracefulRestart keeps the peer's routes through a restart of edged
	// for RestartTime (default 120s) instead of withdrawing them.
	GracefulRestart bool     `yaml:"graceful_restart"`
	RestartTime     Duration `yaml:"restart_time"`
	// Passive waits for the peer to connect.
	Passive bool `yaml:"passive"`
	// Port is the peer's TCP port; default 179.
	Port uint16 `yaml:"port"`
}

// ParseCommunity parses "ASN:VALUE" (each 0-65535) into its 32-bit form.
func ParseCommunity(s string) (uint32, error) {
	a, v, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("community %q: want ASN:VALUE", s)
	}
	hi, err1 := strconv.ParseUint(a, 10, 16)
	lo, err2 := strconv.ParseUint(v, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("community %q: both parts must be 0-65535", s)
	}
	return uint32(hi)<<16 | uint32(lo), nil
}

// ParseLargeCommunity parses "GLOBAL:LOCAL1:LOCAL2" (each 0-4294967295).
func ParseLargeCommunity(s string) ([3]uint32, error) {
	parts := strings.Split(s, ":")
	var out [3]uint32
	if len(parts) != 3 {
		return out, fmt.Errorf("large community %q: want GLOBAL:LOCAL1:LOCAL2", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return out, fmt.Errorf("large community %q: each part must be 0-4294967295", s)
		}
		out[i] = uint32(v)
	}
	return out, nil
}

func (b *BGP) validate(bad func(path, format string, args ...any)) {
	if len(b.Peers) > 0 {
		if a, err := netip.ParseAddr(b.RouterID); err != nil || !a.Is4() {
			bad("bgp.router_id", "must be an IPv4 address when peers are configured, got %q", b.RouterID)
		}
	}
	if b.ListenPort < 0 || b.ListenPort > 65535 {
		bad("bgp.listen_port", "must be 0-65535, got %d", b.ListenPort)
	}
	for i, a := range b.ListenAddresses {
		if _, err := netip.ParseAddr(a); err != nil {
			bad(fmt.Sprintf("bgp.listen_addresses[%d]", i), "not an IP address: %q", a)
		}
	}
	if a, err := netip.ParseAddr(b.NextHop4); b.NextHop4 != "" && (err != nil || !a.Is4()) {
		bad("bgp.next_hop4", "not an IPv4 address: %q", b.NextHop4)
	}
	if a, err := netip.ParseAddr(b.NextHop6); b.NextHop6 != "" && (err != nil || !a.Is6()) {
		bad("bgp.next_hop6", "not an IPv6 address: %q", b.NextHop6)
	}
	for i, c := range b.Communities {
		if _, err := ParseCommunity(c); err != nil {
			bad(fmt.Sprintf("bgp.communities[%d]", i), "%v", err)
		}
	}
	for i, c := range b.LargeCommunities {
		if _, err := ParseLargeCommunity(c); err != nil {
			bad(fmt.Sprintf("bgp.large_communities[%d]", i), "%v", err)
		}
	}
	seen := map[netip.Addr]bool{}
	for i, p := range b.Peers {
		path := fmt.Sprintf("bgp.peers[%d]", i)
		a, err := netip.ParseAddr(p.Address)
		switch {
		case err != nil:
			bad(path+".address", "not an IP address: %q", p.Address)
		case seen[a]:
			bad(path+".address", "duplicate peer %s", a)
		}
		seen[a] = true
		if p.PeerAS == 0 {
			bad(path+".peer_as", "required (1-4294967295)")
		}
		if p.LocalAddress != "" {
			if _, err := netip.ParseAddr(p.LocalAddress); err != nil {
				bad(path+".local_address", "not an IP address: %q", p.LocalAddress)
			}
		}
		if p.Password != "" && len(p.Password) > 80 {
			bad(path+".password", "TCP MD5 keys are at most 80 bytes")
		}
		for _, d := range []struct {
			name string
			v    Duration
		}{{"hold_time", p.HoldTime}, {"keepalive", p.Keepalive}, {"connect_retry", p.ConnectRetry}, {"restart_time", p.RestartTime}} {
			if d.v < 0 {
				bad(path+"."+d.name, "must not be negative")
			}
		}
		if h := p.HoldTime; h != 0 && (h.Std().Seconds() < 3) {
			bad(path+".hold_time", "must be 0 (default) or at least 3s (RFC 4271)")
		}
		if p.Keepalive != 0 && p.HoldTime != 0 && p.Keepalive >= p.HoldTime {
			bad(path+".keepalive", "must be shorter than hold_time")
		}
	}
}
