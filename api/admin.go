package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/edgesim/edgesim/config"
)

// clockView is the admin view of the control-plane clock.
type clockView struct {
	Now           time.Time `json:"now"`
	Offset        string    `json:"offset"`
	OffsetSeconds float64   `json:"offset_seconds"`
}

func (s *Server) clockView() clockView {
	off := s.clock.Offset()
	return clockView{Now: s.clock.Now(), Offset: off.String(), OffsetSeconds: off.Seconds()}
}

func (s *Server) getClock(c *call) (any, error) { return s.clockView(), nil }

// fastForward advances the clock by {"duration":"5h"}; sleeping timers (the
// validation worker) wake and re-check their deadlines.
func (s *Server) fastForward(c *call) (any, error) {
	var req struct {
		Duration *string `json:"duration"`
	}
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	if req.Duration == nil {
		return nil, missing("duration")
	}
	d, err := time.ParseDuration(*req.Duration)
	if err != nil || d <= 0 {
		return nil, errorf(http.StatusBadRequest, CodeAdminBadDuration, "duration %q is not a positive Go duration such as \"5h\"", *req.Duration)
	}
	// One writer of the offset at a time; reloads move it under s.mu too.
	// The offset is persisted first and the clock moved only after that
	// succeeded, like any commit (a conflict reloads the stored offset and
	// the request is retried, so two nodes' fast-forwards add up).
	s.mu.Lock()
	off := s.clock.Offset() + d
	err = s.applyLocked(c.r.Context(), clockOffsetOp(off))
	if err == nil {
		s.clock.FastForward(off - s.clock.Offset())
	}
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("storing the clock offset: %w", err)
	}
	s.log.Info("clock fast-forwarded", "by_seconds", d.Seconds(), "offset_seconds", s.clock.Offset().Seconds())
	return s.clockView(), nil
}

// lockPrefix sets on_demand_locked on a prefix and all its BGP prefixes
// (lock) or clears it (unlock), in one Apply.
func (s *Server) lockPrefix(lock bool) handlerFunc {
	return func(c *call) (any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		id := c.param("prefix_id")
		p, ok := s.state.Prefixes[id]
		if !ok {
			return nil, notFound("prefix %s", id)
		}
		now := s.clock.Now()
		cp := *p
		cp.OnDemandLocked = lock
		cp.ModifiedAt = now
		changes := []change{putPrefix(&cp)}
		for _, bp := range s.state.PrefixBGPPrefixes(p.ID) {
			b := *bp
			b.OnDemandLocked = lock
			b.ModifiedAt = now
			changes = append(changes, putBGPPrefix(&b))
		}
		if err := s.commitLocked(c.r.Context(), changes...); err != nil {
			return nil, err
		}
		return viewPrefix(s.state, &cp), nil
	}
}

// stateView is the whole state as stored (config JSON), for edgectl and tests.
type stateView struct {
	Now   time.Time     `json:"now"`
	State *config.State `json:"state"`
}

func (s *Server) getState(c *call) (any, error) {
	return stateView{Now: s.clock.Now(), State: s.State()}, nil
}
