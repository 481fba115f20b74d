package api

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
)

// fakeValidator returns res or err and records its calls.
type fakeValidator struct {
	mu    sync.Mutex
	res   config.Validation
	err   error
	calls []string
}

func (f *fakeValidator) Validate(_ context.Context, p netip.Prefix, asn uint32, token string) (config.Validation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, p.String())
	return f.res, f.err
}

func (f *fakeValidator) set(res config.Validation, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.res, f.err = res, err
}

func (f *fakeValidator) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func TestValidation(t *testing.T) {
	t.Parallel()
	fv := &fakeValidator{err: errors.New("rtr cache unreachable")}
	e := newEnv(t, envOpt{validator: fv})
	id := e.createPrefix(v4)

	// The answer comes at once; the check waits for the scaled delay (1m x 0.001).
	var p prefixView
	e.must("POST", pfxPath(acctA, id, "validate"), nil, authA, &p)
	if p.Approved != "P" || p.IRRValidationState != "pending" {
		t.Fatalf("validate answered %+v", p)
	}
	if due := e.srv.State().Prefixes[id].ValidationDueAt; !due.Equal(base.Add(60 * time.Millisecond)) {
		t.Fatalf("ValidationDueAt = %v, want %v", due, base.Add(60*time.Millisecond))
	}
	time.Sleep(100 * time.Millisecond) // real time passes, the fake clock does not
	if n := fv.count(); n != 0 {
		t.Fatalf("validator ran %d times before the delay", n)
	}

	// A Validator error keeps the states pending and records the reason.
	e.clk.FastForward(time.Minute)
	e.waitFor(func() bool { return e.srv.State().Prefixes[id].ValidationError != "" }, "validation error recorded")
	if st := e.srv.State().Prefixes[id]; st.Approved || st.Validation != pendingValidation() || !st.ValidationDueAt.IsZero() {
		t.Fatalf("after a validator error: %+v", st)
	}

	// The next validate retries: a missing ROA leaves the prefix unapproved.
	fv.set(config.Validation{IRR: config.StateValid, RPKI: config.StateMissing, Ownership: config.StateValid}, nil)
	e.must("POST", pfxPath(acctA, id, "validate"), nil, authA, nil)
	e.clk.FastForward(time.Minute)
	e.waitFor(func() bool { return e.srv.State().Prefixes[id].Validation.RPKI == config.StateMissing }, "rpki missing")
	e.must("GET", pfxPath(acctA, id), nil, authA, &p)
	if p.Approved != "P" || p.RPKIValidationState != "missing" || p.IRRValidationState != "valid" {
		t.Fatalf("after missing rpki: %+v", p)
	}

	// All valid: approved.
	fv.set(config.Validation{IRR: config.StateValid, RPKI: config.StateValid, Ownership: config.StateValid}, nil)
	e.must("POST", pfxPath(acctA, id, "validate"), nil, authA, nil)
	e.clk.FastForward(time.Minute)
	e.waitFor(func() bool { return e.srv.State().Prefixes[id].Approved }, "approval")

	// Validating an approved prefix changes nothing and calls nothing.
	calls := fv.count()
	fv.set(config.Validation{}, errors.New("must not be called"))
	e.must("POST", pfxPath(acctA, id, "validate"), nil, authA, &p)
	e.clk.FastForward(time.Minute)
	time.Sleep(50 * time.Millisecond)
	if p.Approved != "V" || fv.count() != calls {
		t.Fatalf("re-validating an approved prefix: %+v, %d calls (was %d)", p, fv.count(), calls)
	}
}

// TestValidationDeletedMeanwhile: deleting a prefix whose validation is
// scheduled is allowed, and the worker then skips it.
func TestValidationDeletedMeanwhile(t *testing.T) {
	t.Parallel()
	fv := &fakeValidator{res: config.Validation{IRR: config.StateValid, RPKI: config.StateValid, Ownership: config.StateValid}}
	e := newEnv(t, envOpt{validator: fv})
	id := e.createPrefix(v4)
	e.must("POST", pfxPath(acctA, id, "validate"), nil, authA, nil)
	e.must("DELETE", pfxPath(acctA, id), nil, authA, nil)
	e.clk.FastForward(time.Hour)
	time.Sleep(50 * time.Millisecond)
	if len(e.srv.State().Prefixes) != 0 {
		t.Fatal("the worker resurrected a deleted prefix")
	}
}
