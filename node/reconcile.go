package node

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/api"
	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/clock"
	"github.com/edgesim/edgesim/store"
)

// reconciler is the single owner of snapshot publication: it compiles the
// stored state whenever the store changes, the clock is fast-forwarded, or a
// time-driven change (a binding turning active, an advertisement
// propagating) falls due, and publishes the result. A state that fails to
// compile keeps the last good snapshot; the failure is logged, counted
// (edgesim_snapshot_compile_failures_total) and reported by LastError
// (GET /admin/v1/snapshot's last_compile_error) until a pass succeeds.
type reconciler struct {
	st     store.Store
	clock  *clock.Clock
	holder *config.Holder
	opts   config.CompileOptions // the anycast pool and config-seeded maps
	log    *slog.Logger
	// published, when set, is called after each publication (data-plane
	// servers push the new snapshot into their own structures).
	published func(*config.Snapshot)

	lastErr  atomic.Pointer[string] // why the last pass kept the old snapshot; nil after a good one
	failures atomic.Int64           // passes that kept the old snapshot
}

// LastError returns why the last pass kept the last good snapshot, or "".
func (r *reconciler) LastError() string {
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

func (r *reconciler) fail(msg string, err error) {
	r.failures.Add(1)
	e := msg + ": " + err.Error()
	r.lastErr.Store(&e)
	r.log.Error(msg+"; keeping the last good one", "err", err)
}

// run reconciles until ctx is done. It compiles once before returning from
// its first pass, so callers may rely on a snapshot of the stored state once
// first() has been called.
func (r *reconciler) run(ctx context.Context, first func()) {
	changes := r.st.Watch(ctx) // subscribe before the first read
	ff := r.clock.Changed()    // likewise for fast-forwards
	r.compile(ctx)
	first()
	for {
		s := r.holder.Load()
		var due <-chan time.Time
		var timer *time.Timer
		if !s.NextChange.IsZero() {
			timer = time.NewTimer(max(s.NextChange.Sub(r.clock.Now()), 0))
			due = timer.C
		}
		stop := false
		select {
		case <-ctx.Done():
			stop = true
		case _, ok := <-changes:
			stop = !ok
		case <-ff:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
		if stop {
			return
		}
		ff = r.clock.Changed()
		r.compile(ctx)
	}
}

func (r *reconciler) compile(ctx context.Context) {
	state, err := api.LoadState(ctx, r.st)
	if err != nil {
		if ctx.Err() == nil {
			r.fail("reading state for a snapshot", err)
		}
		return
	}
	s, err := config.CompileWith(state, r.clock.Now(), r.opts)
	if err != nil {
		r.fail("compiling a snapshot", err)
		return
	}
	r.lastErr.Store(nil)
	r.holder.Store(s)
	r.log.Debug("snapshot published", "generation", s.Generation, "bindings", len(s.Entries()),
		"announcements", len(s.Announcements()), "build_seconds", s.BuildTime.Seconds())
	if r.published != nil {
		r.published(s)
	}
}
