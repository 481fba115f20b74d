package api

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/edgesim/edgesim/config"
)

// Validator runs the three prefix checks (IRR, RPKI, ownership). An error
// means a source could not be consulted; the prefix then stays pending and
// the next validate request tries again. registry.Validator is adapted to it
// by edged.
type Validator interface {
	Validate(ctx context.Context, p netip.Prefix, asn uint32, token string) (config.Validation, error)
}

// AutoValid is a Validator that finds every check valid.
type AutoValid struct{}

// Validate implements Validator.
func (AutoValid) Validate(context.Context, netip.Prefix, uint32, string) (config.Validation, error) {
	return config.Validation{IRR: config.StateValid, RPKI: config.StateValid, Ownership: config.StateValid}, nil
}

// validateTimeout bounds one Validator call.
const validateTimeout = 30 * time.Second

// runValidations is the validation worker: it sleeps on the clock until the
// earliest ValidationDueAt (woken early by FastForward and by new validate
// requests), runs the due validations and stores their results.
func (s *Server) runValidations(ctx context.Context) {
	for {
		select {
		case <-s.done:
			return
		default:
		}
		due, next := s.dueValidations()
		for _, p := range due {
			if !s.validateOne(ctx, p) {
				// The store failed; back off instead of spinning.
				select {
				case <-s.done:
					return
				case <-time.After(time.Second):
				}
			}
		}
		if len(due) > 0 {
			continue
		}
		if next.IsZero() {
			select {
			case <-s.done:
				return
			case <-s.wake:
			}
			continue
		}
		s.clock.SleepUntil(next, s.done, s.wake)
		select {
		case <-s.done:
			return
		default:
		}
	}
}

// dueValidations returns copies of the prefixes whose validation is due now,
// and the earliest future due time (zero when none).
func (s *Server) dueValidations() ([]config.Prefix, time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.clock.Now()
	var due []config.Prefix
	var next time.Time
	for _, p := range s.state.Prefixes {
		switch t := p.ValidationDueAt; {
		case t.IsZero():
		case !t.After(now):
			due = append(due, *p)
		case next.IsZero() || t.Before(next):
			next = t
		}
	}
	return due, next
}

// validateOne runs the Validator for snap (outside the lock) and stores the
// result. It reports false when the result could not be persisted.
func (s *Server) validateOne(ctx context.Context, snap config.Prefix) bool {
	vctx, cancel := context.WithTimeout(ctx, validateTimeout)
	res, verr := s.validator.Validate(vctx, snap.CIDR, snap.ASN, snap.OwnershipToken)
	cancel()
	if ctx.Err() != nil {
		return true // shutting down; the validation stays due and runs after a restart
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.state.Prefixes[snap.ID]
	if !ok || !cur.ValidationDueAt.Equal(snap.ValidationDueAt) {
		return true // deleted or rescheduled meanwhile
	}
	cp := *cur
	cp.ValidationDueAt = time.Time{}
	cp.ModifiedAt = s.clock.Now()
	if verr != nil {
		cp.Validation = pendingValidation()
		cp.ValidationError = verr.Error()
		s.log.Warn("prefix validation failed", "prefix", cp.CIDR, "id", cp.ID, "err", verr)
	} else {
		cp.Validation = normalize(res)
		cp.ValidationError = ""
		cp.Approved = cp.Validation.AllValid()
		s.log.Info("prefix validated", "prefix", cp.CIDR, "id", cp.ID,
			"irr", cp.Validation.IRR, "rpki", cp.Validation.RPKI, "ownership", cp.Validation.Ownership, "approved", cp.Approved)
	}
	if err := s.commitLocked(ctx, putPrefix(&cp)); errors.Is(err, errStale) {
		// Another writer moved the state (e.g. another node validated the
		// prefix first); the view is reloaded and the next pass re-checks.
		s.log.Debug("prefix validation not stored: the state changed", "prefix", cp.CIDR, "id", cp.ID)
		return true
	} else if err != nil {
		s.log.Error("storing prefix validation", "prefix", cp.CIDR, "id", cp.ID, "err", err)
		return false
	}
	return true
}

// normalize replaces states a Validator should not return (empty or
// unknown) with pending.
func normalize(v config.Validation) config.Validation {
	fix := func(s config.ValidationState) config.ValidationState {
		switch s {
		case config.StateValid, config.StateInvalid, config.StateMissing, config.StateMismatchASN:
			return s
		}
		return config.StatePending
	}
	return config.Validation{IRR: fix(v.IRR), RPKI: fix(v.RPKI), Ownership: fix(v.Ownership)}
}
