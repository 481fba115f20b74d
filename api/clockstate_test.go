package api

import (
	"testing"
	"time"

	"github.com/edgesim/edgesim/internal/clock"
	"github.com/edgesim/edgesim/store"
)

// TestClockOffsetSurvivesRestart fast-forwards the lab clock, restarts the
// server on the same store with a fresh clock, and checks that the clock and
// the binding states computed from it are where they were.
func TestClockOffsetSurvivesRestart(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	e := newEnv(t, envOpt{store: st})
	e.withDefault("203.0.113.0/24")
	e.must("POST", "/admin/v1/clock/fast-forward", map[string]string{"duration": "6h"}, noAuth, nil)
	before, off := e.srv.State(), e.clk.Offset()

	clk := clock.New(func() time.Time { return base })
	e2 := newEnv(t, envOpt{store: st, clk: clk})
	if got := clk.Offset(); got != off || got < 6*time.Hour {
		t.Fatalf("after restart: clock offset %v, want %v", got, off)
	}
	after := e2.srv.State()
	for id, b := range before.Bindings {
		if got, want := after.Bindings[id].State(clk.Now()), b.State(base.Add(off)); got != want || got != "active" {
			t.Errorf("binding %s after restart: %s, want %s (active)", b.CIDR, got, want)
		}
	}
	// A corrupt stored offset is an error, not a silent reset.
	st.Apply(t.Context(), store.Put(KindMeta, keyClockOffset, []byte("soon")))
	if _, err := New(t.Context(), Options{Daemon: testDaemon(nil), Store: st}); err == nil {
		t.Error("New accepted a corrupt stored clock offset")
	}
}
