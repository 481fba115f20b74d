package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/edgesim/edgesim/bgp"
	"github.com/edgesim/edgesim/config"
)

// announcer feeds the BGP speaker the announcements of each published
// snapshot. Sync can take a while for large tables, so snapshots are handed
// over through a one-slot mailbox: the speaker always converges on the
// latest snapshot and never on a stale one, and the reconciler never waits.
type announcer struct {
	sp    bgp.Announcer
	attrs bgp.Attrs      // communities shared by every route
	pool  []netip.Prefix // the edge's own anycast pool, always announced
	log   *slog.Logger

	box *mailbox
}

// newSpeaker starts the BGP speaker for cfg, or returns nil when no peers
// are configured.
func newSpeaker(ctx context.Context, cfg config.BGP, log *slog.Logger) (*bgp.Speaker, []bgp.PeerConfig, error) {
	if len(cfg.Peers) == 0 {
		return nil, nil, nil
	}
	opts := bgp.Options{
		RouterID:   netip.MustParseAddr(cfg.RouterID), // validated by config
		LocalAS:    cfg.LocalAS,
		ListenPort: cfg.ListenPort,
		Logger:     log,
	}
	for _, a := range cfg.ListenAddresses {
		opts.ListenAddrs = append(opts.ListenAddrs, netip.MustParseAddr(a))
	}
	if cfg.NextHop4 != "" {
		opts.NextHop4 = netip.MustParseAddr(cfg.NextHop4)
	}
	if cfg.NextHop6 != "" {
		opts.NextHop6 = netip.MustParseAddr(cfg.NextHop6)
	}
	var peers []bgp.PeerConfig
	for _, p := range cfg.Peers {
		pc := bgp.PeerConfig{
			Address:           netip.MustParseAddr(p.Address),
			PeerAS:            p.PeerAS,
			LocalAS:           p.LocalAS,
			Password:          p.Password,
			MultihopTTL:       p.MultihopTTL,
			HoldTime:          p.HoldTime.Std(),
			KeepaliveInterval: p.Keepalive.Std(),
			ConnectRetry:      p.ConnectRetry.Std(),
			GracefulRestart:   p.GracefulRestart,
			RestartTime:       p.RestartTime.Std(),
			Passive:           p.Passive,
			Port:              p.Port,
		}
		if p.LocalAddress != "" {
			pc.LocalAddress = netip.MustParseAddr(p.LocalAddress)
		}
		peers = append(peers, pc)
	}
	sp, err := bgp.New(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the bgp speaker: %w", err)
	}
	return sp, peers, nil
}

func sharedAttrs(cfg config.BGP) bgp.Attrs {
	var a bgp.Attrs
	for _, c := range cfg.Communities {
		v, _ := config.ParseCommunity(c) // validated by config
		a.Communities = append(a.Communities, v)
	}
	for _, c := range cfg.LargeCommunities {
		v, _ := config.ParseLargeCommunity(c)
		a.LargeCommunities = append(a.LargeCommunities, v)
	}
	return a
}

func newAnnouncer(sp bgp.Announcer, attrs bgp.Attrs, pool []netip.Prefix, log *slog.Logger) *announcer {
	return &announcer{sp: sp, attrs: attrs, pool: pool, log: log, box: newMailbox()}
}

// publish hands s to the announcer; it never blocks.
func (a *announcer) publish(s *config.Snapshot) { a.box.Put(s) }

// routes turns a snapshot's announcements into BGP routes: AS path 13335,
// then the customer ASN unless it is 13335, plus asn_prepend_count extra
// 13335s, with the configured communities; plus the anycast pool, from
// 13335 alone. staged are the routes of the BGP prefixes that would be
// announced if advertised (Snapshot.Staged), with the attributes they
// would be announced with: the speaker loads them without exporting them,
// so that advertising them later is quick.
func (a *announcer) routes(s *config.Snapshot) (announce, staged []bgp.Route) {
	anns := s.Announcements()
	announce = make([]bgp.Route, 0, len(anns)+len(a.pool))
	for _, p := range a.pool {
		attrs := a.attrs
		attrs.ASPath = bgp.ASPath(bgp.DefaultLocalAS, 0)
		announce = append(announce, bgp.Route{Prefix: p, Attrs: attrs})
	}
	announce = a.appendRoutes(announce, anns)
	return announce, a.appendRoutes(nil, s.Staged())
}

func (a *announcer) appendRoutes(out []bgp.Route, anns []config.Announcement) []bgp.Route {
	for _, an := range anns {
		attrs := a.attrs
		attrs.ASPath = bgp.ASPath(an.ASN, an.ASNPrependCount)
		out = append(out, bgp.Route{Prefix: an.CIDR, Attrs: attrs})
	}
	return out
}

// run syncs the speaker with the latest snapshot until ctx is done.
func (a *announcer) run(ctx context.Context) {
	var synced uint64
	for {
		s, ok := a.box.Take(ctx)
		if !ok {
			return
		}
		if s.Generation == synced && synced != 0 {
			continue
		}
		routes, staged := a.routes(s)
		if err := a.sp.SyncStaged(ctx, routes, staged); err != nil {
			if ctx.Err() == nil {
				a.log.Error("syncing bgp announcements; retrying in 1s", "generation", s.Generation, "err", err)
				time.AfterFunc(time.Second, a.box.Wake)
			}
			continue
		}
		synced = s.Generation
		a.log.Debug("bgp announcements synced", "generation", s.Generation, "routes", len(routes), "staged", len(staged))
	}
}
