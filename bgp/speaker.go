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
)

// Announcer is what the data plane needs from a BGP speaker; *Speaker and
// *bgptest.Fake implement it.
type Announcer interface {
	SetPeers(ctx context.Context, peers []PeerConfig) error
	Sync(ctx context.Context, routes []Route) error
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

	mu      sync.Mutex // serializes SetPeers, Sync, Close; guards the fields below
	closed  bool
	peers   map[netip.Addr]PeerConfig
	applied map[netip.Prefix]Attrs // announced set GoBGP holds
	dirty   bool                   // applied may not match GoBGP after an error
	enc     *encoder

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
		enc:     newEncoder(opts.NextHop4, opts.NextHop6),
		state:   map[netip.Addr]*peerRuntime{},
	}
	adapter := &slogAdapter{l: s.log, onDown: s.recordDown}
	s.srv = server.NewBgpServer(server.LoggerOption(adapter))
	go s.srv.Serve()

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
		s.srv.Stop()
		return nil, fmt.Errorf("starting bgp on port %d: %w", opts.ListenPort, err)
	}
	if err := s.installPolicies(ctx); err != nil {
		s.srv.Stop()
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	s.watchDone = make(chan struct{})
	err := s.srv.WatchEvent(wctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.onPeerEvent)
	if err != nil {
		cancel()
		s.srv.Stop()
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

// Sync makes routes the complete announced set. It applies only the
// difference to the previous Sync. Small differences go out as individual
// UPDATEs (withdrawals first, then announcements). Large ones (at least 128
// prefixes and a quarter of the resulting table) take the bulk path: the
// changed prefixes are held back by the export policy while GoBGP loads
// them, then one soft reset per peer sends the table packed, many NLRIs per
// UPDATE, with the withdrawals packed in the same pass. Sync returns once
// GoBGP has queued the updates; the peers converge shortly after.
//
// The export policy guarantees that nothing outside routes is ever
// announced, whatever else reaches GoBGP's RIB. Invalid routes are all
// reported and nothing is changed.
func (s *Speaker) Sync(ctx context.Context, routes []Route) error {
	desired, err := validateRoutes(routes, s.opts.localAS())
	if err != nil {
		return fmt.Errorf("validating routes: %w", err)
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
	d := diffRoutes(s.applied, desired)
	if d.len() == 0 {
		return nil
	}
	if useBulk(d.len(), len(desired)) {
		err = s.syncBulkLocked(ctx, d, desired)
	} else {
		err = s.syncEachLocked(ctx, d, desired)
	}
	if err != nil {
		s.dirty = true
	}
	return err
}

// resetLocked removes every local path and empties the prefix sets, after
// an error left GoBGP in an unknown state; the next diff re-adds everything.
func (s *Speaker) resetLocked(ctx context.Context) error {
	for _, set := range []string{setAllow4, setAllow6, setWithdraw4, setWithdraw6} {
		if err := s.setPrefixes(ctx, set, nil, true); err != nil {
			return err
		}
	}
	for _, f := range []*api.Family{familyV4, familyV6} {
		if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: f}); err != nil {
			return fmt.Errorf("deleting all %s paths: %w", f.Afi, err)
		}
	}
	clear(s.applied)
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
	if len(ds.Prefixes) == 0 {
		return nil
	}
	if remove {
		if err := s.srv.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds}); err != nil {
			return fmt.Errorf("removing %d prefixes from set %q: %w", len(ds.Prefixes), set, err)
		}
		return nil
	}
	if err := s.srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
		return fmt.Errorf("adding %d prefixes to set %q: %w", len(ds.Prefixes), set, err)
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

func (s *Speaker) addPath(ctx context.Context, p netip.Prefix, a Attrs) error {
	path, err := s.enc.path(p, a)
	if err != nil {
		return fmt.Errorf("encoding route %q: %w", p, err)
	}
	if _, err := s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err != nil {
		return fmt.Errorf("adding path %q: %w", p, err)
	}
	return nil
}

func (s *Speaker) deletePath(ctx context.Context, p netip.Prefix) error {
	if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Path: withdrawal(p)}); err != nil {
		return fmt.Errorf("deleting path %q: %w", p, err)
	}
	return nil
}

func (s *Speaker) syncEachLocked(ctx context.Context, d routeDiff, desired map[netip.Prefix]Attrs) error {
	for _, p := range d.del {
		if err := s.deletePath(ctx, p); err != nil {
			return err
		}
		delete(s.applied, p)
	}
	if err := s.setBoth(ctx, setAllow4, setAllow6, d.del, true); err != nil {
		return err
	}
	if err := s.setBoth(ctx, setAllow4, setAllow6, d.add, false); err != nil {
		return err
	}
	for _, list := range [][]netip.Prefix{d.change, d.add} {
		for _, p := range list {
			if err := s.addPath(ctx, p, desired[p]); err != nil {
				return err
			}
			s.applied[p] = desired[p]
		}
	}
	return nil
}

func (s *Speaker) syncBulkLocked(ctx context.Context, d routeDiff, desired map[netip.Prefix]Attrs) error {
	t0 := time.Now()
	defer func() {
		s.log.Debug("bulk sync", "add", len(d.add), "change", len(d.change), "del", len(d.del), "seconds", time.Since(t0).Seconds())
	}()
	held := slices.Concat(d.del, d.change)
	// 1. Hold back: removed and changed prefixes leave the allow sets (a
	// policy change sends nothing by itself), removed ones are marked for
	// packed withdrawal.
	if err := s.setBoth(ctx, setAllow4, setAllow6, held, true); err != nil {
		return err
	}
	if err := s.setBoth(ctx, setWithdraw4, setWithdraw6, d.del, false); err != nil {
		return err
	}
	// 2. Load: rejected by the export policy, so GoBGP sends nothing (a
	// filtered path whose old version is filtered too produces no UPDATE).
	for _, list := range [][]netip.Prefix{d.change, d.add} {
		for _, p := range list {
			if err := s.addPath(ctx, p, desired[p]); err != nil {
				return err
			}
			s.applied[p] = desired[p]
		}
	}
	s.log.Debug("bulk sync loaded", "seconds", time.Since(t0).Seconds())
	// 3. Release and send the whole table packed, withdrawals included.
	if err := s.setBoth(ctx, setAllow4, setAllow6, slices.Concat(d.change, d.add), false); err != nil {
		return err
	}
	if err := s.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: "all", Soft: true, Direction: api.ResetPeerRequest_OUT}); err != nil {
		return fmt.Errorf("resending table to peers: %w", err)
	}
	s.log.Debug("bulk sync resent", "seconds", time.Since(t0).Seconds())
	// 4. Drop the withdrawn paths from the RIB. GoBGP sends each peer one
	// more (redundant) withdrawal per prefix here; the peers already
	// dropped them in step 3.
	for _, p := range d.del {
		if err := s.deletePath(ctx, p); err != nil {
			return err
		}
		delete(s.applied, p)
	}
	return s.setBoth(ctx, setWithdraw4, setWithdraw6, d.del, true)
}

// Announced returns the routes of the last successful Sync, sorted.
func (s *Speaker) Announced() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Route, 0, len(s.applied))
	for _, p := range slices.SortedFunc(maps.Keys(s.applied), comparePrefix) {
		out = append(out, Route{Prefix: p, Attrs: s.applied[p]})
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
			for _, f := range s.families(c) {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
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
	done := make(chan struct{})
	go func() { s.srv.Stop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stopping gobgp: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}
