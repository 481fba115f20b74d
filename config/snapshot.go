package config

import (
	"cmp"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/lpm"
)

// FIBEntry is what the edge knows about one service binding: where its
// addresses go and whether they may be served.
type FIBEntry struct {
	CIDR      netip.Prefix // the binding's CIDR, the matched route
	Service   string       // service name: ServiceCDN, ServiceSpectrum, ServiceMagicTransit
	ServiceID string
	BindingID string
	PrefixID  string
	AccountID string // the prefix owner
	State     BindingState
}

// Announcement is a BGP prefix the edge announces.
type Announcement struct {
	CIDR            netip.Prefix
	BGPPrefixID     string
	PrefixID        string
	ASN             uint32 // the customer ASN of the prefix
	ASNPrependCount int
}

// Dispatch is the answer for one destination address.
type Dispatch struct {
	Entry FIBEntry // the most specific binding covering the address
	// Announced is the most specific announced BGP prefix covering the
	// address; invalid when none is announced.
	Announced netip.Prefix
}

// Served reports whether traffic to the address may be served: the binding
// is active and a covering BGP prefix is announced.
func (d Dispatch) Served() bool {
	return d.Entry.State == BindingActive && d.Announced.IsValid()
}

// Snapshot is the compiled, immutable view of a State at one instant: the
// FIB (a longest-prefix-match table of every binding) and the set of
// announced BGP prefixes. A Snapshot is never mutated after Compile returns;
// any number of goroutines may read it.
type Snapshot struct {
	// Generation counts publications by a Holder; 0 for a Snapshot that
	// was never published.
	Generation uint64
	// At is the instant the snapshot describes.
	At time.Time
	// NextChange is the earliest future instant at which a time-driven
	// state changes (a binding turns active, an advertisement propagates);
	// zero when nothing is pending. The owner recompiles then.
	NextChange time.Time
	// BuildTime is how long Compile took.
	BuildTime time.Duration

	fib       *lpm.Table[uint32] // address -> index into entries
	entries   []FIBEntry
	announced *lpm.Table[uint32] // address -> index into announcements
	anns      []Announcement
	staged    []Announcement // eligible, not announced; see Staged
	dns       []DNSAnswer    // sorted by name; see DNSAnswers
	dnsIdx    map[string]int // name -> index into dns
	access    accessTables   // IP access rules per zone and account; see Access
	zones     []Zone         // the State's zones (created through the API), sorted by name
	apps      []*SpectrumApp // the State's Spectrum apps (clones), sorted by creation, then ID
}

// Compile builds the Snapshot of st at time now. It fails only when the
// state is inconsistent (two bindings with the same CIDR, a BGP prefix of an
// unknown prefix); the API's rules keep that from happening.
func Compile(st *State, now time.Time) (*Snapshot, error) {
	return CompileWith(st, now, CompileOptions{})
}

// CompileOptions carry what Compile needs beyond the State.
type CompileOptions struct {
	// AnycastPool is the edge's anycast pool (Daemon.Pool()): proxied
	// hostnames answer PoolAnycastAddrs of it. Empty: they answer nothing.
	AnycastPool []netip.Prefix
	// ManagedAddressMaps are the config-seeded maps
	// (Daemon.ManagedAddressMaps); they count like the State's maps.
	ManagedAddressMaps []*AddressMap
}

// CompileWith is Compile with options.
func CompileWith(st *State, now time.Time, o CompileOptions) (*Snapshot, error) {
	start := time.Now()
	s := &Snapshot{At: now}
	next := func(t time.Time) {
		if t.After(now) && (s.NextChange.IsZero() || t.Before(s.NextChange)) {
			s.NextChange = t
		}
	}

	defaults := map[string]bool{} // prefix IDs with a default binding
	for _, b := range sortedValues(st.Bindings, func(b *Binding) netip.Prefix { return b.CIDR }) {
		p, ok := st.Prefixes[b.PrefixID]
		if !ok {
			return nil, fmt.Errorf("compiling binding %s: unknown prefix %s", b.ID, b.PrefixID)
		}
		svc, _ := ServiceByID(b.ServiceID)
		s.entries = append(s.entries, FIBEntry{
			CIDR: b.CIDR, Service: svc.Name, ServiceID: b.ServiceID,
			BindingID: b.ID, PrefixID: b.PrefixID, AccountID: p.AccountID,
			State: b.State(now),
		})
		if b.CIDR == p.CIDR {
			defaults[p.ID] = true
		}
		next(b.ActiveAt)
	}
	fib, err := lpm.Build(indexed(s.entries, func(e FIBEntry) netip.Prefix { return e.CIDR }))
	if err != nil {
		return nil, fmt.Errorf("compiling the fib: %w", err)
	}
	s.fib = fib

	for _, b := range sortedValues(st.BGPPrefixes, func(b *BGPPrefix) netip.Prefix { return b.CIDR }) {
		p, ok := st.Prefixes[b.PrefixID]
		if !ok {
			return nil, fmt.Errorf("compiling bgp prefix %s: unknown prefix %s", b.ID, b.PrefixID)
		}
		next(b.PropagatedAt)
		if !p.Approved || !defaults[p.ID] {
			continue
		}
		a := Announcement{
			CIDR: b.CIDR, BGPPrefixID: b.ID, PrefixID: p.ID,
			ASN: p.ASN, ASNPrependCount: b.ASNPrependCount,
		}
		if b.Announced(now) {
			s.anns = append(s.anns, a)
		} else {
			s.staged = append(s.staged, a)
		}
	}
	ann, err := lpm.Build(indexed(s.anns, func(a Announcement) netip.Prefix { return a.CIDR }))
	if err != nil {
		return nil, fmt.Errorf("compiling announcements: %w", err)
	}
	s.announced = ann
	s.dns, s.dnsIdx = buildDNSAnswers(st, o)
	if s.access, err = buildAccessTables(st); err != nil {
		return nil, err
	}
	for _, z := range st.Zones {
		s.zones = append(s.zones, z.Clone())
	}
	slices.SortFunc(s.zones, func(x, y Zone) int { return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID)) })
	for _, a := range sortedApps(st) {
		s.apps = append(s.apps, a.Clone())
	}
	s.BuildTime = time.Since(start)
	return s, nil
}

// Lookup returns what the edge does with traffic to addr: the most specific
// binding and the announced BGP prefix covering it. ok is false when no
// binding covers addr. IPv4-mapped IPv6 addresses are unmapped.
func (s *Snapshot) Lookup(addr netip.Addr) (d Dispatch, ok bool) {
	if s == nil || s.fib == nil {
		return Dispatch{}, false
	}
	i, ok := s.fib.Lookup(addr)
	if !ok {
		return Dispatch{}, false
	}
	d.Entry = s.entries[i]
	if j, ok := s.announced.Lookup(addr); ok {
		d.Announced = s.anns[j].CIDR
	}
	return d, true
}

// Entries returns every FIB entry, sorted by CIDR.
func (s *Snapshot) Entries() []FIBEntry {
	if s == nil {
		return nil
	}
	return slices.Clone(s.entries)
}

// Announcements returns the BGP prefixes the edge announces, sorted by CIDR:
// every BGP prefix whose advertisement has propagated, of an approved prefix
// with a default binding.
func (s *Snapshot) Announcements() []Announcement {
	if s == nil {
		return nil
	}
	return slices.Clone(s.anns)
}

// Staged returns the BGP prefixes that would be announced if advertised,
// sorted by CIDR: every BGP prefix of an approved prefix with a default
// binding that is not announced (not advertised, or its advertisement
// still propagating). The BGP speaker keeps them loaded, unexported, so
// that advertising them is quick.
func (s *Snapshot) Staged() []Announcement {
	if s == nil {
		return nil
	}
	return slices.Clone(s.staged)
}

// Zones returns the zones of the compiled State, sorted by name: those
// created through the API. The config's zones (Daemon.Zones) are not part
// of the State; callers that need every zone add them.
func (s *Snapshot) Zones() []Zone {
	if s == nil {
		return nil
	}
	out := make([]Zone, len(s.zones))
	for i, z := range s.zones {
		out[i] = z.Clone()
	}
	return out
}

// SpectrumApps returns copies of the compiled State's Spectrum apps, sorted
// by creation time, then ID. Dynamic apps carry their allocated addresses
// in EdgeIPs.IPs.
func (s *Snapshot) SpectrumApps() []*SpectrumApp {
	if s == nil {
		return nil
	}
	out := make([]*SpectrumApp, len(s.apps))
	for i, a := range s.apps {
		out[i] = a.Clone()
	}
	return out
}

// Holder publishes Snapshots to data-plane readers. Load never returns nil:
// a new Holder holds an empty Snapshot. One owner calls Store; any number of
// readers call Load.
type Holder struct {
	p   atomic.Pointer[Snapshot]
	gen atomic.Uint64
}

// NewHolder returns a Holder with an empty Snapshot.
func NewHolder() *Holder {
	h := &Holder{}
	empty, _ := Compile(NewState(), time.Time{})
	h.p.Store(empty)
	return h
}

// Load returns the current Snapshot. Readers call it once per connection,
// query or pass and use that pointer throughout.
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Store publishes s, stamping its Generation. s must not be modified
// afterwards.
func (h *Holder) Store(s *Snapshot) {
	s.Generation = h.gen.Add(1)
	h.p.Store(s)
}

func sortedValues[T any](m map[string]*T, key func(*T) netip.Prefix) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *T) int {
		pa, pb := key(a), key(b)
		return cmp.Or(pa.Addr().Compare(pb.Addr()), cmp.Compare(pa.Bits(), pb.Bits()))
	})
	return out
}

func indexed[T any](xs []T, key func(T) netip.Prefix) iter.Seq2[netip.Prefix, uint32] {
	return func(yield func(netip.Prefix, uint32) bool) {
		for i, x := range xs {
			if !yield(key(x), uint32(i)) {
				return
			}
		}
	}
}
