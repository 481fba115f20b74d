package bgp

import (
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

var (
	familyV4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyV6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

// encodedAttrs are the wire-format path attributes of one Attrs value,
// shared by every prefix that uses it. GoBGP decodes api.Path's binary
// fields straight from wire format, which skips its protobuf Any
// conversion (the dominant per-path API cost).
type encodedAttrs struct {
	v4 [][]byte // ORIGIN, [AS_PATH], NEXT_HOP, [COMMUNITIES], [LARGE_COMMUNITY]
	v6 [][]byte // the same without NEXT_HOP; MP_REACH_NLRI is added per prefix
}

// encoder builds api.Paths. It is owned by the Speaker's sync lock.
type encoder struct {
	nextHop4, nextHop6 string
	cache              map[string]*encodedAttrs
}

func newEncoder(nh4, nh6 netip.Addr) *encoder {
	e := &encoder{nextHop4: "0.0.0.0", nextHop6: "::", cache: map[string]*encodedAttrs{}}
	if nh4.IsValid() {
		e.nextHop4 = nh4.String()
	}
	if nh6.IsValid() {
		e.nextHop6 = nh6.String()
	}
	return e
}

func serialize(a bgp.PathAttributeInterface) ([]byte, error) {
	b, err := a.Serialize()
	if err != nil {
		return nil, fmt.Errorf("serializing path attribute %s: %w", a.GetType(), err)
	}
	return b, nil
}

func (e *encoder) attrs(a Attrs) (*encodedAttrs, error) {
	k := a.key()
	if ea, ok := e.cache[k]; ok {
		return ea, nil
	}
	var common [][]byte
	add := func(attr bgp.PathAttributeInterface) error {
		b, err := serialize(attr)
		if err != nil {
			return err
		}
		common = append(common, b)
		return nil
	}
	if err := add(bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)); err != nil {
		return nil, err
	}
	if len(a.ASPath) > 1 {
		// GoBGP prepends the local AS on eBGP export; it gets the rest.
		rest := slices.Clone(a.ASPath[1:])
		attr := bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, rest)})
		b, err := serialize(attr)
		if err != nil {
			return nil, err
		}
		// GoBGP guesses 2- or 4-octet AS encoding when decoding; make sure
		// the guess gives back what was meant.
		var back bgp.PathAttributeAsPath
		if err := back.DecodeFromBytes(b); err != nil || len(back.Value) != 1 || !slices.Equal(back.Value[0].GetAS(), rest) {
			return nil, fmt.Errorf("encoding as path %v: ambiguous 4-octet encoding", a.ASPath)
		}
		common = append(common, b)
	}
	if len(a.Communities) > 0 {
		if err := add(bgp.NewPathAttributeCommunities(slices.Clone(a.Communities))); err != nil {
			return nil, err
		}
	}
	if len(a.LargeCommunities) > 0 {
		lc := make([]*bgp.LargeCommunity, 0, len(a.LargeCommunities))
		for _, c := range a.LargeCommunities {
			lc = append(lc, bgp.NewLargeCommunity(c[0], c[1], c[2]))
		}
		if err := add(bgp.NewPathAttributeLargeCommunities(lc)); err != nil {
			return nil, err
		}
	}
	nh, err := serialize(bgp.NewPathAttributeNextHop(e.nextHop4))
	if err != nil {
		return nil, err
	}
	ea := &encodedAttrs{
		v4: append(append(make([][]byte, 0, len(common)+1), common...), nh),
		v6: common,
	}
	e.cache[k] = ea
	return ea, nil
}

func nlri(p netip.Prefix) bgp.AddrPrefixInterface {
	if p.Addr().Is4() {
		return bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
	}
	return bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
}

func nlriBinary(p netip.Prefix) []byte {
	// A prefix is its length octet and the significant address octets.
	a := p.Addr().AsSlice()
	n := (p.Bits() + 7) / 8
	b := make([]byte, 1+n)
	b[0] = byte(p.Bits())
	copy(b[1:], a[:n])
	return b
}

// path returns the api.Path announcing p with a.
func (e *encoder) path(p netip.Prefix, a Attrs) (*api.Path, error) {
	ea, err := e.attrs(a)
	if err != nil {
		return nil, err
	}
	if p.Addr().Is4() {
		return &api.Path{Family: familyV4, NlriBinary: nlriBinary(p), PattrsBinary: ea.v4}, nil
	}
	mp, err := serialize(bgp.NewPathAttributeMpReachNLRI(e.nextHop6, []bgp.AddrPrefixInterface{nlri(p)}))
	if err != nil {
		return nil, err
	}
	pattrs := append(slices.Clip(ea.v6), mp)
	return &api.Path{Family: familyV6, NlriBinary: nlriBinary(p), PattrsBinary: pattrs}, nil
}

// withdrawal returns the api.Path that withdraws p.
func withdrawal(p netip.Prefix) *api.Path {
	f := familyV4
	if p.Addr().Is6() {
		f = familyV6
	}
	return &api.Path{Family: f, NlriBinary: nlriBinary(p), IsWithdraw: true}
}

// familyEntry is the prefix-set entry matching every IPv4 (or IPv6)
// prefix.
func familyEntry(v6 bool) *api.Prefix {
	if v6 {
		return &api.Prefix{IpPrefix: "::/0", MaskLengthMin: 0, MaskLengthMax: 128}
	}
	return &api.Prefix{IpPrefix: "0.0.0.0/0", MaskLengthMin: 0, MaskLengthMax: 32}
}

// apiPrefix is p as a GoBGP exact-match prefix-set entry.
func apiPrefix(p netip.Prefix) *api.Prefix {
	return &api.Prefix{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: uint32(p.Bits())}
}
