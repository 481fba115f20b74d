package api

import (
	"net/netip"
	"time"

	"github.com/edgesim/edgesim/config"
)

type bindingReq struct {
	CIDR      *string `json:"cidr"`
	ServiceID *string `json:"service_id"`
}

// createBinding adds a service binding. The default binding (the whole
// prefix) also creates the prefix's BGP prefix, withdrawn, and starts the
// ready_after wait for every BGP prefix of the prefix; all of it is persisted
// in one Apply.
func (s *Server) createBinding(c *call) (any, error) {
	var req bindingReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	if req.CIDR == nil {
		return nil, missing("cidr")
	}
	if req.ServiceID == nil {
		return nil, missing("service_id")
	}
	cidr, err := config.ParseCIDR(*req.CIDR)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	b := &config.Binding{
		ID: newID(), PrefixID: p.ID, AccountID: p.AccountID, CIDR: cidr, ServiceID: *req.ServiceID,
		CreatedAt: now, ActiveAt: now.Add(s.delays.Provisioning),
	}
	if err := config.CheckNewBinding(s.state, p, b); err != nil {
		return nil, err
	}
	changes := []change{putBinding(b)}
	if b.CIDR == p.CIDR {
		ready := now.Add(s.delays.ReadyAfter)
		if _, ok := s.state.WholeBGPPrefix(p); !ok {
			changes = append(changes, putBGPPrefix(&config.BGPPrefix{
				ID: newID(), PrefixID: p.ID, AccountID: p.AccountID, CIDR: p.CIDR, ASN: p.ASN,
				OnDemandEnabled: true, OnDemandLocked: p.OnDemandLocked, ReadyAt: ready,
				CreatedAt: now, ModifiedAt: now,
			}))
		}
		for _, bp := range s.state.PrefixBGPPrefixes(p.ID) {
			if bp.ReadyAt.Before(ready) {
				cp := *bp
				cp.ReadyAt = ready
				changes = append(changes, putBGPPrefix(&cp))
			}
		}
	}
	if err := s.commitLocked(c.r.Context(), changes...); err != nil {
		return nil, err
	}
	s.log.Info("service binding created", "cidr", b.CIDR, "id", b.ID, "service_id", b.ServiceID)
	return viewBinding(b, now), nil
}

func (s *Server) listBindings(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	bs := s.state.PrefixBindings(p.ID)
	byCreation(bs, func(b *config.Binding) (time.Time, netip.Prefix, string) { return b.CreatedAt, b.CIDR, b.ID })
	now := s.clock.Now()
	out := make([]bindingView, 0, len(bs))
	for _, b := range bs {
		out = append(out, viewBinding(b, now))
	}
	return newList(out), nil
}

func (s *Server) bindingLocked(c *call) (*config.Prefix, *config.Binding, error) {
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, nil, err
	}
	id := c.param("binding_id")
	b, ok := s.state.Bindings[id]
	if !ok || b.PrefixID != p.ID {
		return nil, nil, notFound("service binding %s", id)
	}
	return p, b, nil
}

func (s *Server) getBinding(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, b, err := s.bindingLocked(c)
	if err != nil {
		return nil, err
	}
	return viewBinding(b, s.clock.Now()), nil
}

// deleteBinding removes a binding. Removing the default binding also removes
// the BGP prefix it created (it is withdrawn: CheckDeleteBinding made sure).
func (s *Server) deleteBinding(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, b, err := s.bindingLocked(c)
	if err != nil {
		return nil, err
	}
	if err := config.CheckDeleteBinding(s.state, p, b, s.clock.Now()); err != nil {
		return nil, err
	}
	changes := []change{del(KindBindings, b.ID)}
	if b.CIDR == p.CIDR {
		if bp, ok := s.state.WholeBGPPrefix(p); ok {
			changes = append(changes, del(KindBGPPrefixes, bp.ID))
		}
	}
	if err := s.commitLocked(c.r.Context(), changes...); err != nil {
		return nil, err
	}
	s.log.Info("service binding deleted", "cidr", b.CIDR, "id", b.ID)
	return nil, nil
}

func (s *Server) createBGPPrefix(c *call) (any, error) {
	var req struct {
		CIDR *string `json:"cidr"`
	}
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	if req.CIDR == nil {
		return nil, missing("cidr")
	}
	cidr, err := config.ParseCIDR(*req.CIDR)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	bp := &config.BGPPrefix{
		ID: newID(), PrefixID: p.ID, AccountID: p.AccountID, CIDR: cidr, ASN: p.ASN,
		OnDemandEnabled: true, OnDemandLocked: p.OnDemandLocked, CreatedAt: now, ModifiedAt: now,
	}
	if whole, ok := s.state.WholeBGPPrefix(p); ok {
		bp.ReadyAt = whole.ReadyAt
	}
	if err := config.CheckNewBGPPrefix(s.state, p, bp); err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), putBGPPrefix(bp)); err != nil {
		return nil, err
	}
	return viewBGPPrefix(p, bp), nil
}

func (s *Server) listBGPPrefixes(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	bs := s.state.PrefixBGPPrefixes(p.ID)
	byCreation(bs, func(b *config.BGPPrefix) (time.Time, netip.Prefix, string) { return b.CreatedAt, b.CIDR, b.ID })
	out := make([]bgpPrefixView, 0, len(bs))
	for _, b := range bs {
		out = append(out, viewBGPPrefix(p, b))
	}
	return newList(out), nil
}

func (s *Server) bgpPrefixLocked(c *call) (*config.Prefix, *config.BGPPrefix, error) {
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, nil, err
	}
	id := c.param("bgp_prefix_id")
	b, ok := s.state.BGPPrefixes[id]
	if !ok || b.PrefixID != p.ID {
		return nil, nil, notFound("bgp prefix %s", id)
	}
	return p, b, nil
}

func (s *Server) getBGPPrefix(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, b, err := s.bgpPrefixLocked(c)
	if err != nil {
		return nil, err
	}
	return viewBGPPrefix(p, b), nil
}

type bgpPrefixEditReq struct {
	ASNPrependCount       *int64 `json:"asn_prepend_count"`
	AutoAdvertiseWithdraw *bool  `json:"auto_advertise_withdraw"`
	OnDemand              *struct {
		Advertised *bool `json:"advertised"`
	} `json:"on_demand"`
}

// toggleLocked returns bp with its advertisement set to advertised at now,
// after CheckToggle. A request that does not change the state returns bp
// unchanged (not a toggle).
func (s *Server) toggleLocked(p *config.Prefix, bp *config.BGPPrefix, advertised bool, now time.Time) (*config.BGPPrefix, error) {
	if err := config.CheckToggle(s.state, p, bp, advertised, now, s.delays); err != nil {
		return nil, err
	}
	cp := *bp
	if advertised == bp.Advertised {
		return &cp, nil
	}
	cp.Advertised = advertised
	cp.AdvertisedModifiedAt = now
	cp.ModifiedAt = now
	delay := s.delays.Withdraw
	if advertised {
		delay = s.delays.Advertise
	}
	cp.PropagatedAt = now.Add(delay)
	return &cp, nil
}

func (s *Server) editBGPPrefix(c *call) (any, error) {
	var req bgpPrefixEditReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, bp, err := s.bgpPrefixLocked(c)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	cp := *bp
	if req.ASNPrependCount != nil {
		if err := config.CheckASNPrepend(*req.ASNPrependCount); err != nil {
			return nil, err
		}
		cp.ASNPrependCount = int(*req.ASNPrependCount)
	}
	if req.AutoAdvertiseWithdraw != nil {
		cp.AutoAdvertiseWithdraw = *req.AutoAdvertiseWithdraw
	}
	if req.OnDemand != nil && req.OnDemand.Advertised != nil {
		t, err := s.toggleLocked(p, &cp, *req.OnDemand.Advertised, now)
		if err != nil {
			return nil, err
		}
		cp = *t
	}
	if cp == *bp {
		return viewBGPPrefix(p, bp), nil
	}
	cp.ModifiedAt = now
	if err := s.commitLocked(c.r.Context(), putBGPPrefix(&cp)); err != nil {
		return nil, err
	}
	if cp.Advertised != bp.Advertised {
		s.log.Info("bgp prefix advertisement changed", "cidr", cp.CIDR, "id", cp.ID, "advertised", cp.Advertised)
	}
	return viewBGPPrefix(p, &cp), nil
}

func (s *Server) getBGPStatus(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	bp, ok := s.state.WholeBGPPrefix(p)
	if !ok {
		return statusView{}, nil
	}
	return statusView{Advertised: bp.Advertised, AdvertisedModifiedAt: timePtr(bp.AdvertisedModifiedAt)}, nil
}

// editBGPStatus is the deprecated prefix-level toggle: it changes the BGP
// prefix of the prefix's own CIDR, with the same rules as editBGPPrefix.
func (s *Server) editBGPStatus(c *call) (any, error) {
	var req struct {
		Advertised *bool `json:"advertised"`
	}
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	if req.Advertised == nil {
		return nil, missing("advertised")
	}
	bp, ok := s.state.WholeBGPPrefix(p)
	if !ok {
		return nil, &config.RuleError{Rule: config.RuleNoBGPPrefix, Msg: "prefix " + p.CIDR.String() + " has no bgp prefix yet; create the default service binding first"}
	}
	cp, err := s.toggleLocked(p, bp, *req.Advertised, s.clock.Now())
	if err != nil {
		return nil, err
	}
	if *cp != *bp {
		if err := s.commitLocked(c.r.Context(), putBGPPrefix(cp)); err != nil {
			return nil, err
		}
	}
	return statusView{Advertised: cp.Advertised, AdvertisedModifiedAt: timePtr(cp.AdvertisedModifiedAt)}, nil
}
