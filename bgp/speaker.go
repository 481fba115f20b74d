package bgp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"
)

// Announcer is what the data plane needs from a BGP speaker; *Speaker and
// *bgptest.Fake implement it.
type Announcer interface {
	SetPeers(ctx context.Context, peers []PeerConfig) error
	Sync(ctx context.Context, routes []Route) error
	SyncStaged(ctx context.Context, announce, stage []Route) error
	Status() []PeerStatus
	Close(ctx context.Context) error
}

var _ Announcer = (*Speaker)(nil)

// GoBGP object names. The export policy is the guarantee that nothing but
// the Sync set leaves the speaker: only locally originated paths whose
// prefix is in an allow set are accepted, everything else is rejected. The
// withdraw sets tag paths with LLGR_STALE on export, which GoBGP turns into
// withdrawals towards peers without long-lived graceful restart (all of
// ours), packed like a table dump: that is how a bulk Sync withdraws.
const (
	setAllow4    = "edgesim-allow4"
	setAllow6    = "edgesim-allow6"
	setWithdraw4 = "edgesim-withdraw4"
	setWithdraw6 = "edgesim-withdraw6"
	policyExport = "edgesim-export"
	policyImport = "edgesim-import"
	llgrStale    = "65535:6"
)

// Speaker is an embedded GoBGP v3 speaker that announces exactly the routes
// of the last Sync to every Established peer. Its methods are safe for
// concurrent use; SetPeers, Sync and Close are serialized. The zero value is
// not usable: call New.
type Speaker struct {
	opts Options
	log  *slog.Logger
	srv  *server.BgpServer

	ld  *loader
	enc *encoder // owned by mu

	mu      sync.Mutex // serializes SetPeers, Sync, Close; guards the fields below
	closed  bool
	peers   map[netip.Addr]PeerConfig
	applied map[netip.Prefix]Attrs // announced set GoBGP holds
	// staged are paths GoBGP holds that the export policy rejects (in no
	// allow or withdraw set, or in a withdraw set only until the purge
	// after their demotion), so that announcing them later is a policy
	// change and a soft reset; see SyncStaged.
	staged map[netip.Prefix]Attrs
	dirty  bool // applied may not match GoBGP after an error
	// stale are prefixes already withdrawn from the peers whose paths are
	// still in GoBGP's RIB (and its allow and withdraw sets); purgeLocked
	// drops them, purgeDelay after the bulk Sync that withdrew them or
	// first thing in the next Sync. staleAll is by family (IPv4, IPv6):
	// every prefix of it was withdrawn, and its withdraw set holds one
	// entry matching the whole family instead of the prefixes.
	stale      []netip.Prefix
	staleAll   [2]bool
	purgeTimer *time.Timer

	closing   chan struct{} // closed when Close starts; cancels a purge
	closeOnce sync.Once

	stopWatch context.CancelFunc
	watchDone chan struct{}

	stMu  sync.Mutex // guards state
	state map[netip.Addr]*peerRuntime
}

type peerRuntime struct {
	established bool
	lastErr     string
}

// New starts a speaker with no peers and no routes. It fails when the
// options are invalid or the listener cannot be opened.
func New(opts Options) (*Speaker, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("validating bgp options: %w", err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Speaker{
		opts:    opts,
		log:     lg.With("component", "bgp"),
		peers:   map[netip.Addr]PeerConfig{},
		applied: map[netip.Prefix]Attrs{},
		staged:  map[netip.Prefix]Attrs{},
		enc:     newEncoder(opts.NextHop4, opts.NextHop6),
		state:   map[netip.Addr]*peerRuntime{},
		closing: make(chan struct{}),
	}
	adapter := &slogAdapter{l: s.log, onDown: s.recordDown}
	srv, ld, err := newLoaderServer(server.LoggerOption(adapter))
	if err != nil {
		return nil, err
	}
	s.srv, s.ld = srv, ld
	go s.srv.Serve()
	stop := func() {
		s.srv.Stop()
		s.ld.close()
	}

	ctx := context.Background()
	port := int32(opts.ListenPort)
	if port == 0 {
		port = -1 // GoBGP's "do not listen"
	}
	g := &api.Global{Asn: opts.localAS(), RouterId: opts.RouterID.String(), ListenPort: port}
	for _, a := range opts.ListenAddrs {
		g.ListenAddresses = append(g.ListenAddresses, a.String())
	}
	if err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: g}); err != nil {
		stop()
		return nil, fmt.Errorf("starting bgp on port %d: %w", opts.ListenPort, err)
	}
	if err := s.installPolicies(ctx); err != nil {
		stop()
		return nil, err
	}
	if err := s.ld.connect(ctx); err != nil {
		stop()
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	s.watchDone = make(chan struct{})
	err = s.srv.WatchEvent(wctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.onPeerEvent)
	if err != nil {
		cancel()
		stop()
		return nil, fmt.Errorf("watching peer events: %w", err)
	}
	go func() { <-wctx.Done(); close(s.watchDone) }()
	return s, nil
}

func (s *Speaker) installPolicies(ctx context.Context) error {
	for _, name := range []string{setAllow4, setAllow6, setWithdraw4, setWithdraw6} {
		if err := s.srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
			DefinedType: api.DefinedType_PREFIX, Name: name}}); err != nil {
			return fmt.Errorf("adding prefix set %q: %w", name, err)
		}
	}
	local := func(set string) *api.Conditions {
		return &api.Conditions{
			PrefixSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: set},
			RouteType: api.Conditions_ROUTE_TYPE_LOCAL,
		}
	}
	stale := &api.Actions{
		RouteAction: api.RouteAction_ACCEPT,
		Community:   &api.CommunityAction{Type: api.CommunityAction_ADD, Communities: []string{llgrStale}},
	}
	accept := &api.Actions{RouteAction: api.RouteAction_ACCEPT}
	reject := &api.Actions{RouteAction: api.RouteAction_REJECT}
	policies := []*api.Policy{
		{Name: policyExport, Statements: []*api.Statement{
			{Name: "edgesim-withdraw4", Conditions: local(setWithdraw4), Actions: stale},
			{Name: "edgesim-withdraw6", Conditions: local(setWithdraw6), Actions: stale},
			{Name: "edgesim-allow4", Conditions: local(setAllow4), Actions: accept},
			{Name: "edgesim-allow6", Conditions: local(setAllow6), Actions: accept},
		}},
		// The speaker originates; it never uses what peers send (they echo
		// our own routes back, among others). Rejecting on import keeps
		// received paths out of the RIB, so they can neither be exported
		// nor win best-path selection over ours.
		{Name: policyImport, Statements: []*api.Statement{
			{Name: "edgesim-reject-ebgp", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_EXTERNAL}, Actions: reject},
			{Name: "edgesim-reject-ibgp", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_INTERNAL}, Actions: reject},
		}},
	}
	for _, p := range policies {
		if err := s.srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: p}); err != nil {
			return fmt.Errorf("adding policy %q: %w", p.Name, err)
		}
	}
	for _, a := range []*api.PolicyAssignment{
		{Name: "global", Direction: api.PolicyDirection_EXPORT, Policies: []*api.Policy{{Name: policyExport}}, DefaultAction: api.RouteAction_REJECT},
		{Name: "global", Direction: api.PolicyDirection_IMPORT, Policies: []*api.Policy{{Name: policyImport}}, DefaultAction: api.RouteAction_ACCEPT},
	} {
		if err := s.srv.AddPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: a}); err != nil {
			return fmt.Errorf("assigning policy %q: %w", a.Policies[0].Name, err)
		}
	}
	return nil
}

// onPeerEvent logs each transition into and out of Established once.
func (s *Speaker) onPeerEvent(r *api.WatchEventResponse) {
	p := r.GetPeer()
	if p == nil || p.Type != api.WatchEventResponse_PeerEvent_STATE || p.Peer == nil || p.Peer.State == nil {
		return
	}
	addr, err := netip.ParseAddr(p.Peer.State.NeighborAddress)
	if err != nil {
		return
	}
	addr = addr.Unmap()
	up := p.Peer.State.SessionState == api.PeerState_ESTABLISHED
	s.stMu.Lock()
	rt := s.runtimeLocked(addr)
	was := rt.established
	rt.established = up
	reason := rt.lastErr
	s.stMu.Unlock()
	switch {
	case up && !was:
		s.log.Info("peer up", "peer", addr, "peer_as", p.Peer.State.PeerAsn)
	case !up && was:
		s.log.Warn("peer down", "peer", addr, "peer_as", p.Peer.State.PeerAsn, "reason", reason)
	}
}

func (s *Speaker) recordDown(addr netip.Addr, reason string) {
	s.stMu.Lock()
	s.runtimeLocked(addr).lastErr = reason
	s.stMu.Unlock()
}

func (s *Speaker) runtimeLocked(addr netip.Addr) *peerRuntime {
	rt := s.state[addr]
	if rt == nil {
		rt = &peerRuntime{}
		s.state[addr] = rt
	}
	return rt
}

// families returns the address families a session to c carries: its
// transport family, plus the other one when an explicit next hop for it is
// configured (MP-BGP with a real next hop of that family).
// stopServer stops a GoBGP server after deleting the given peers (each
// gets a Cease) and giving its main loop a moment to reap their sessions:
// in GoBGP v3.37, StopBgp resets the global config while a just-cancelled
// session's receive goroutine may still read it (a data race the race
// detector reports); the main loop waits for those goroutines when it
// handles their last message, which orders them before StopBgp.
func stopServer(srv *server.BgpServer, peers []netip.Addr) {
	if len(peers) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, a := range peers {
			_ = srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()})
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	srv.Stop()
}

type familyKey struct {
	afi  api.Family_Afi
	safi api.Family_Safi
}

// remoteFamilies returns the address families of the peer's multiprotocol
// capabilities; a peer that sent none speaks IPv4 unicast only (RFC 4760).
func remoteFamilies(caps []*anypb.Any) map[familyKey]bool {
	out := map[familyKey]bool{}
	for _, a := range caps {
		var mp api.MultiProtocolCapability
		if a.MessageIs(&mp) && a.UnmarshalTo(&mp) == nil && mp.Family != nil {
			out[familyKey{mp.Family.Afi, mp.Family.Safi}] = true
		}
	}
	if len(out) == 0 {
		out[familyKey{familyV4.Afi, familyV4.Safi}] = true
	}
	return out
}

func (s *Speaker) families(c PeerConfig) []*api.Family {
	if c.Address.Is4() {
		if s.opts.NextHop6.IsValid() {
			return []*api.Family{familyV4, familyV6}
		}
		return []*api.Family{familyV4}
	}
	if s.opts.NextHop4.IsValid() {
		return []*api.Family{familyV6, familyV4}
	}
	return []*api.Family{familyV6}
}

func (s *Speaker) apiPeer(c PeerConfig) *api.Peer {
	secs := func(d time.Duration) uint64 { return uint64(d / time.Second) }
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: c.Address.String(),
			PeerAsn:         c.PeerAS,
			LocalAsn:        c.LocalAS,
			AuthPassword:    c.Password,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:           secs(c.connectRetry()),
			HoldTime:               secs(c.holdTime()),
			KeepaliveInterval:      secs(c.KeepaliveInterval),
			IdleHoldTimeAfterReset: secs(c.connectRetry()),
		}},
		Transport: &api.Transport{PassiveMode: c.Passive, RemotePort: uint32(c.Port)},
	}
	if c.KeepaliveInterval == 0 {
		p.Timers.Config.KeepaliveInterval = secs(c.holdTime()) / 3
	}
	if c.LocalAddress.IsValid() {
		p.Transport.LocalAddress = c.LocalAddress.String()
	}
	if c.MultihopTTL > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(c.MultihopTTL)}
	}
	if c.GracefulRestart {
		p.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(secs(c.restartTime()))}
	}
	for _, f := range s.families(c) {
		af := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}}
		if c.GracefulRestart {
			af.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		p.AfiSafis = append(p.AfiSafis, af)
	}
	return p
}

// SetPeers makes the configured neighbors exactly peers: new ones are
// added, removed ones are shut down (with a Cease NOTIFICATION) and changed
// ones are removed and added again. Sessions of unchanged peers are not
// touched. Every problem with the list is reported before anything changes.
func (s *Speaker) SetPeers(ctx context.Context, peers []PeerConfig) error {
	desired := make(map[netip.Addr]PeerConfig, len(peers))
	var errs []error
	for _, c := range peers {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := desired[c.Address]; dup {
			errs = append(errs, fmt.Errorf("peer %s: listed twice", c.Address))
			continue
		}
		desired[c.Address] = c
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("validating peers: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	d := diffPeers(s.peers, desired)
	for _, a := range d.del {
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
			return fmt.Errorf("deleting peer %q: %w", a, err)
		}
		delete(s.peers, a)
		s.stMu.Lock()
		delete(s.state, a)
		s.stMu.Unlock()
	}
	for _, c := range d.change {
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: c.Address.String()}); err != nil {
			return fmt.Errorf("deleting peer %q to change it: %w", c.Address, err)
		}
		delete(s.peers, c.Address)
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.apiPeer(c)}); err != nil {
			return fmt.Errorf("adding changed peer %q: %w", c.Address, err)
		}
		s.peers[c.Address] = c
	}
	for _, c := range d.add {
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.apiPeer(c)}); err != nil {
			return fmt.Errorf("adding peer %q: %w", c.Address, err)
		}
		s.peers[c.Address] = c
	}
	return nil
}

// Sync makes routes the complete announced set, with nothing staged: it
// is SyncStaged(ctx, routes, nil).
func (s *Speaker) Sync(ctx context.Context, routes []Route) error {
	return s.SyncStaged(ctx, routes, nil)
}

// SyncStaged makes announce the complete announced set and stage the
// complete staged set. It applies only the difference to the previous
// Sync. Small differences go out as individual UPDATEs (withdrawals first,
// then announcements). Large ones (at least 128 prefixes and a quarter of
// the resulting table) take the bulk path: the changed prefixes are held
// back by the export policy while GoBGP loads them, then one soft reset per
// peer sends the table packed, many NLRIs per UPDATE, with the withdrawals
// packed in the same pass. Sync returns once GoBGP has queued the updates;
// the peers converge shortly after. After a bulk withdrawal the withdrawn
// paths leave GoBGP's RIB purgeDelay later in the background, or first
// thing in the next Sync if that comes sooner (it then takes longer by
// about 15 µs per withdrawn path).
//
// Staged routes are loaded into GoBGP but never exported: the export
// policy rejects them like anything else outside announce, on live
// sessions, new sessions and soft resets alike. Announcing a staged
// prefix later with the same attributes only adds it to the policy's
// allow set (plus, in bulk, one soft reset), the way a router flips an
// outbound route-map on an already loaded RIB; staged paths whose
// attributes change are replaced. A prefix in both sets is announced. An
// announced prefix that becomes staged is withdrawn and keeps its path;
// after a bulk withdrawal it keeps its announced attributes until the next
// Sync replaces them.
//
// The export policy guarantees that nothing outside announce is ever
// announced, whatever else reaches GoBGP's RIB. Invalid routes are all
// reported and nothing is changed.
func (s *Speaker) SyncStaged(ctx context.Context, announce, stage []Route) error {
	desired, err := validateRoutes(announce, s.opts.localAS())
	if err != nil {
		return fmt.Errorf("validating routes: %w", err)
	}
	desiredStage, err := validateRoutes(stage, s.opts.localAS())
	if err != nil {
		return fmt.Errorf("validating staged routes: %w", err)
	}
	for p := range desired {
		delete(desiredStage, p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.dirty {
		if err := s.resetLocked(ctx); err != nil {
			return err
		}
	}
	if err := s.purgeLocked(ctx); err != nil {
		s.dirty = true
		return err
	}
	d := diffRoutes(s.applied, s.staged, desired, desiredStage)
	switch {
	case d.len() == 0:
		err = s.stageLocked(ctx, d, desiredStage)
	case useBulk(d.len(), len(desired)):
		err = s.syncBulkLocked(ctx, d, desired, desiredStage)
	default:
		err = s.syncEachLocked(ctx, d, desired, desiredStage)
	}
	if err != nil {
		s.dirty = true
	}
	return err
}

// stageLocked drops the staged paths no longer wanted and loads the new
// or changed ones. Neither sends anything: the export policy rejects both
// the old and the new paths.
func (s *Speaker) stageLocked(ctx context.Context, d routeDiff, desiredStage map[netip.Prefix]Attrs) error {
	if err := s.deleteLocked(ctx, d.unstage); err != nil {
		return err
	}
	for _, p := range d.unstage {
		delete(s.staged, p)
	}
	return s.loadLocked(ctx, desiredStage, s.staged, d.stage)
}

// resetLocked removes every local path and empties the prefix sets, after
// an error left GoBGP in an unknown state; the next diff re-adds everything.
// Paths go first, while the sets still export them, so that GoBGP
// withdraws from the peers whatever they hold.
func (s *Speaker) resetLocked(ctx context.Context) error {
	for _, f := range []*api.Family{familyV4, familyV6} {
		if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: f}); err != nil {
			return fmt.Errorf("deleting all %s paths: %w", f.Afi, err)
		}
	}
	for _, set := range []string{setAllow4, setAllow6, setWithdraw4, setWithdraw6} {
		if err := s.setPrefixes(ctx, set, nil, true); err != nil {
			return err
		}
	}
	clear(s.applied)
	clear(s.staged)
	s.stale, s.staleAll = nil, [2]bool{}
	s.dirty = false
	return nil
}

// setPrefixes adds prefixes to a prefix set, or removes them; with all and
// remove it empties the set. Prefixes of the other family are skipped.
func (s *Speaker) setPrefixes(ctx context.Context, set string, prefixes []netip.Prefix, remove bool) error {
	v6 := set == setAllow6 || set == setWithdraw6
	ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: set}
	for _, p := range prefixes {
		if p.Addr().Is6() == v6 {
			ds.Prefixes = append(ds.Prefixes, apiPrefix(p))
		}
	}
	if prefixes == nil && remove {
		// Emptying: list what is there and remove it (All would delete the
		// set, which the policy still references).
		err := s.srv.ListDefinedSet(ctx, &api.ListDefinedSetRequest{DefinedType: api.DefinedType_PREFIX, Name: set}, func(d *api.DefinedSet) {
			ds.Prefixes = append(ds.Prefixes, d.Prefixes...)
		})
		if err != nil {
			return fmt.Errorf("listing prefix set %q: %w", set, err)
		}
	}
	return s.setEntries(ctx, set, ds.Prefixes, remove)
}

// setEntries adds entries to a prefix set, or removes them.
func (s *Speaker) setEntries(ctx context.Context, set string, entries []*api.Prefix, remove bool) error {
	if len(entries) == 0 {
		return nil
	}
	ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: set, Prefixes: entries}
	if remove {
		if err := s.srv.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds}); err != nil {
			return fmt.Errorf("removing %d prefixes from set %q: %w", len(entries), set, err)
		}
		return nil
	}
	if err := s.srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
		return fmt.Errorf("adding %d prefixes to set %q: %w", len(entries), set, err)
	}
	return nil
}

// setWithdraw adds the removed prefixes to the withdraw sets, or takes
// them out again: the prefixes themselves, or for a family in all (every
// prefix of it removed) one entry matching the whole family, which keeps a
// mass withdrawal from building, searching and emptying a set as large as
// the table.
func (s *Speaker) setWithdraw(ctx context.Context, prefixes []netip.Prefix, all [2]bool, remove bool) error {
	for f, set := range []string{setWithdraw4, setWithdraw6} {
		var err error
		if all[f] {
			err = s.setEntries(ctx, set, []*api.Prefix{familyEntry(f == 1)}, remove)
		} else {
			err = s.setPrefixes(ctx, set, prefixes, remove)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Speaker) setBoth(ctx context.Context, v4, v6 string, prefixes []netip.Prefix, remove bool) error {
	if len(prefixes) == 0 {
		return nil
	}
	if err := s.setPrefixes(ctx, v4, prefixes, remove); err != nil {
		return err
	}
	return s.setPrefixes(ctx, v6, prefixes, remove)
}

// loadLocked adds the desired paths of the listed prefixes to GoBGP in
// batches and records them in into (applied or staged).
func (s *Speaker) loadLocked(ctx context.Context, desired, into map[netip.Prefix]Attrs, lists ...[]netip.Prefix) error {
	all := slices.Concat(lists...)
	err := s.ld.load(ctx, len(all), func(i int) (*api.Path, error) {
		path, err := s.enc.path(all[i], desired[all[i]])
		if err != nil {
			return nil, fmt.Errorf("encoding route %q: %w", all[i], err)
		}
		return path, nil
	})
	if err != nil {
		return fmt.Errorf("adding %d paths: %w", len(all), err)
	}
	for _, p := range all {
		into[p] = desired[p]
	}
	return nil
}

// deleteLocked removes the paths of prefixes from GoBGP in batches.
// GoBGP withdraws each one from the peers that the export policy still
// exports it to, one UPDATE per prefix.
func (s *Speaker) deleteLocked(ctx context.Context, prefixes []netip.Prefix) error {
	err := s.ld.load(ctx, len(prefixes), func(i int) (*api.Path, error) { return withdrawal(prefixes[i]), nil })
	if err != nil {
		return fmt.Errorf("deleting %d paths: %w", len(prefixes), err)
	}
	return nil
}

func (s *Speaker) syncEachLocked(ctx context.Context, d routeDiff, desired, desiredStage map[netip.Prefix]Attrs) error {
	// Withdrawals: deleting a path that is still exported withdraws it.
	gone := slices.Concat(d.del, d.demote)
	if err := s.deleteLocked(ctx, gone); err != nil {
		return err
	}
	for _, p := range gone {
		delete(s.applied, p)
	}
	if err := s.setBoth(ctx, setAllow4, setAllow6, gone, true); err != nil {
		return err
	}
	// Announcements. GoBGP sends nothing when an identical path is added
	// again, so a promoted path is deleted while still rejected (which
	// sends nothing) and added again once allowed.
	if err := s.deleteLocked(ctx, d.promote); err != nil {
		return err
	}
	if err := s.setBoth(ctx, setAllow4, setAllow6, slices.Concat(d.add, d.promote), false); err != nil {
		return err
	}
	if err := s.loadLocked(ctx, desired, s.applied, d.change, d.add, d.promote); err != nil {
		return err
	}
	for _, p := range slices.Concat(d.add, d.promote) {
		delete(s.staged, p)
	}
	// Staging sends nothing: neither the old nor the new paths are allowed.
	d.stage = slices.Concat(d.stage, d.demote)
	return s.stageLocked(ctx, d, desiredStage)
}

func (s *Speaker) syncBulkLocked(ctx context.Context, d routeDiff, desired, desiredStage map[netip.Prefix]Attrs) error {
	t0 := time.Now()
	defer func() {
		s.log.Debug("bulk sync", "add", len(d.add), "change", len(d.change), "del", len(d.del),
			"promote", len(d.promote), "demote", len(d.demote), "stage", len(d.stage), "unstage", len(d.unstage),
			"seconds", time.Since(t0).Seconds())
	}()
	// 1. Hold back: changed prefixes leave the allow sets (a policy change
	// sends nothing by itself); removed and demoted ones go into the
	// withdraw sets, whose statements come first and tag them LLGR_STALE
	// on export. Staged paths no longer wanted go (they send nothing).
	if err := s.setBoth(ctx, setAllow4, setAllow6, d.change, true); err != nil {
		return err
	}
	gone := slices.Concat(d.del, d.demote)
	all := wholeFamilies(gone, desired, desiredStage, s.applied)
	if err := s.setWithdraw(ctx, gone, all, false); err != nil {
		return err
	}
	// 2. Load: rejected by the export policy, so GoBGP sends nothing (a
	// filtered path whose old version is filtered too produces no UPDATE).
	// Promoted paths are loaded already.
	if err := s.loadLocked(ctx, desired, s.applied, d.change, d.add); err != nil {
		return err
	}
	if err := s.stageLocked(ctx, d, desiredStage); err != nil {
		return err
	}
	s.log.Debug("bulk sync loaded", "seconds", time.Since(t0).Seconds())
	// 3. Release and send the whole table packed, withdrawals first.
	if err := s.setBoth(ctx, setAllow4, setAllow6, slices.Concat(d.change, d.add, d.promote), false); err != nil {
		return err
	}
	for _, p := range d.promote {
		s.applied[p] = s.staged[p]
	}
	for _, p := range slices.Concat(d.add, d.promote) {
		delete(s.staged, p)
	}
	s.log.Debug("bulk sync released", "seconds", time.Since(t0).Seconds())
	if err := s.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: "all", Soft: true, Direction: api.ResetPeerRequest_OUT}); err != nil {
		return fmt.Errorf("resending table to peers: %w", err)
	}
	// 4. The removed and demoted prefixes are withdrawn; the removed
	// paths leave the RIB later, off the path of the peers' convergence.
	// Demoted paths stay, staged with the attributes they were announced
	// with (the next Sync replaces them if the staged ones differ).
	for _, p := range d.demote {
		s.staged[p] = s.applied[p]
	}
	for _, p := range gone {
		delete(s.applied, p)
	}
	if len(gone) > 0 {
		s.stale, s.staleAll = gone, all
		if s.purgeTimer == nil {
			s.purgeTimer = time.AfterFunc(purgeDelay, s.purge)
		} else {
			s.purgeTimer.Reset(purgeDelay)
		}
	}
	return nil
}

// purgeDelay is how long withdrawn paths stay in GoBGP's RIB after a bulk
// Sync: dropping 100k of them takes GoBGP's main loop over a second of
// CPU, which right after the Sync would compete with sending the
// withdrawals.
const purgeDelay = 10 * time.Second

// wholeFamilies reports by family (IPv4, IPv6) whether gone (removed
// and demoted prefixes) takes every announced prefix of it and no other
// path of it stays: some go, none is desired, and every staged prefix of
// it was announced before (is being demoted). The withdraw set then
// matches the whole family without withdrawing any never-announced path.
func wholeFamilies(gone []netip.Prefix, desired, desiredStage, applied map[netip.Prefix]Attrs) [2]bool {
	var removed, left [2]bool
	for _, p := range gone {
		removed[family(p)] = true
	}
	for p := range desired {
		left[family(p)] = true
	}
	for p := range desiredStage {
		if _, demoted := applied[p]; !demoted {
			left[family(p)] = true
		}
	}
	return [2]bool{removed[0] && !left[0], removed[1] && !left[1]}
}

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 0
	}
	return 1
}

// purge runs purgeLocked unless a Sync or Close came first.
func (s *Speaker) purge() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if err := s.purgeLocked(ctx); err != nil {
		s.dirty = true
		select {
		case <-s.closing:
		default:
			s.log.Warn("dropping withdrawn paths", "err", err)
		}
	}
}

// purgeLocked drops the stale paths from GoBGP: out of the allow and
// withdraw sets first, so that the export policy rejects them and deleting
// them sends nothing (the peers have them withdrawn already). Stale paths
// that are staged (demoted) stay.
func (s *Speaker) purgeLocked(ctx context.Context) error {
	if len(s.stale) == 0 {
		return nil
	}
	t0 := time.Now()
	if err := s.setBoth(ctx, setAllow4, setAllow6, s.stale, true); err != nil {
		return err
	}
	if err := s.setWithdraw(ctx, s.stale, s.staleAll, true); err != nil {
		return err
	}
	// A whole family without staged paths goes in one operation (all
	// local paths of it, which the export policy rejects now); the rest
	// path by path.
	var wholeGone, hasStaged [2]bool
	for p := range s.staged {
		hasStaged[family(p)] = true
	}
	for f, fam := range []*api.Family{familyV4, familyV6} {
		if s.staleAll[f] && !hasStaged[f] {
			if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: fam}); err != nil {
				return fmt.Errorf("deleting all %s paths: %w", fam.Afi, err)
			}
			wholeGone[f] = true
		}
	}
	var rest []netip.Prefix
	for _, p := range s.stale {
		if _, staged := s.staged[p]; !staged && !wholeGone[family(p)] {
			rest = append(rest, p)
		}
	}
	if err := s.deleteLocked(ctx, rest); err != nil {
		return err
	}
	s.log.Debug("dropped withdrawn paths", "count", len(s.stale), "seconds", time.Since(t0).Seconds())
	s.stale, s.staleAll = nil, [2]bool{}
	return nil
}

// Staged returns the staged routes (loaded, not announced), sorted.
func (s *Speaker) Staged() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedRoutes(s.staged)
}

// Announced returns the routes of the last successful Sync, sorted.
func (s *Speaker) Announced() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedRoutes(s.applied)
}

// sortedRoutes returns m's routes sorted by prefix.
func sortedRoutes(m map[netip.Prefix]Attrs) []Route {
	out := make([]Route, 0, len(m))
	for _, p := range slices.SortedFunc(maps.Keys(m), comparePrefix) {
		out = append(out, Route{Prefix: p, Attrs: m[p]})
	}
	return out
}

var sessionStates = map[api.PeerState_SessionState]PeerState{
	api.PeerState_UNKNOWN:     StateUnknown,
	api.PeerState_IDLE:        StateIdle,
	api.PeerState_CONNECT:     StateConnect,
	api.PeerState_ACTIVE:      StateActive,
	api.PeerState_OPENSENT:    StateOpenSent,
	api.PeerState_OPENCONFIRM: StateOpenConfirm,
	api.PeerState_ESTABLISHED: StateEstablished,
}

// Status reports every configured peer, sorted by address. It returns nil
// after Close.
func (s *Speaker) Status() []PeerStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []PeerStatus
	now := time.Now()
	// GoBGP's own advertised count (EnableAdvertised) recomputes the export
	// of the whole table per peer on its main loop; with 100k prefixes that
	// stalls every other operation, so Status derives it instead.
	s.mu.Lock()
	var sent4, sent6 int
	for p := range s.applied {
		if p.Addr().Is4() {
			sent4++
		} else {
			sent6++
		}
	}
	peers := maps.Clone(s.peers)
	s.mu.Unlock()
	err := s.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		if p.Conf == nil || p.State == nil {
			return
		}
		addr, err := netip.ParseAddr(p.Conf.NeighborAddress)
		if err != nil {
			return
		}
		st := PeerStatus{Address: addr.Unmap(), PeerAS: p.Conf.PeerAsn, State: sessionStates[p.State.SessionState]}
		if st.State == "" {
			st.State = StateUnknown
		}
		if st.State == StateEstablished && p.Timers != nil && p.Timers.State != nil && p.Timers.State.Uptime != nil {
			st.Uptime = now.Sub(p.Timers.State.Uptime.AsTime()).Truncate(time.Second)
		}
		for _, af := range p.AfiSafis {
			if af.State != nil {
				st.PrefixesReceived += int(af.State.Received)
			}
		}
		if c, ok := peers[st.Address]; ok && st.State == StateEstablished {
			remote := remoteFamilies(p.State.RemoteCap)
			for _, f := range s.families(c) {
				if !remote[familyKey{f.Afi, f.Safi}] {
					continue // configured here, not negotiated by the peer
				}
				if f == familyV4 {
					st.PrefixesSent += sent4
				} else {
					st.PrefixesSent += sent6
				}
			}
		}
		s.stMu.Lock()
		if rt := s.state[st.Address]; rt != nil {
			st.LastError = rt.lastErr
		}
		s.stMu.Unlock()
		out = append(out, st)
	})
	if err != nil {
		return nil
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	return out
}

// Close stops the speaker. Peers without graceful restart get a Cease
// NOTIFICATION and drop our routes at once (the fastest withdrawal). For
// peers with GracefulRestart, Close drops the TCP session without a
// NOTIFICATION, so they keep the routes as stale for RestartTime and take
// them back when a new speaker re-establishes the session and re-sends.
// Close is idempotent; ctx bounds the wait for GoBGP.
func (s *Speaker) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.purgeTimer != nil {
		s.purgeTimer.Stop()
	}
	var gr []PeerConfig
	for _, c := range s.peers {
		if c.GracefulRestart {
			gr = append(gr, c)
		}
	}
	var errs []error
	if len(gr) > 0 {
		if err := dropSessions(gr); err != nil {
			errs = append(errs, fmt.Errorf("dropping graceful-restart sessions: %w", err))
		}
	}
	s.stopWatch()
	var plain []netip.Addr
	for _, c := range s.peers {
		if !c.GracefulRestart {
			plain = append(plain, c.Address)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		stopServer(s.srv, plain)
		if err := s.ld.close(); err != nil {
			s.log.Warn("closing the path loader", "err", err)
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stopping gobgp: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}
