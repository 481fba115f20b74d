package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/api"
	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/clock"
	"github.com/edgesim/edgesim/store"
)

// TestReconcilerKeepsLastGoodSnapshot stores a state that cannot compile (a
// binding of a prefix that does not exist, as only a bad write or a bug
// could leave): the published snapshot stays the last good one, the reason
// is reported and counted, and a good state clears it.
func TestReconcilerKeepsLastGoodSnapshot(t *testing.T) {
	st := store.NewMemory()
	rec := &reconciler{st: st, clock: clock.New(nil), holder: config.NewHolder(), log: slog.New(slog.DiscardHandler)}
	var published []uint64
	rec.published = func(s *config.Snapshot) { published = append(published, s.Generation) }
	ctx := context.Background()

	rec.compile(ctx)
	good := rec.holder.Load()
	if rec.LastError() != "" || len(published) != 1 {
		t.Fatalf("empty state: last error %q, published %v", rec.LastError(), published)
	}
	b, _ := json.Marshal(&config.Binding{ID: "b1", PrefixID: "missing", CIDR: netip.MustParsePrefix("203.0.113.0/24"), ServiceID: "s", ActiveAt: time.Now()})
	if _, err := st.Apply(ctx, store.Put(api.KindBindings, "b1", b)); err != nil {
		t.Fatal(err)
	}
	rec.compile(ctx)
	if got := rec.holder.Load(); got != good {
		t.Fatalf("a state that does not compile replaced the snapshot (generation %d)", got.Generation)
	}
	if e := rec.LastError(); !strings.Contains(e, "snapshot") || !strings.Contains(e, `unknown prefix "missing"`) {
		t.Fatalf("last error %q, want the failure with its reason", e)
	}
	if n := rec.failures.Load(); n != 1 || len(published) != 1 {
		t.Fatalf("failures %d, published %v; want 1 failure and nothing new published", n, published)
	}
	if _, err := st.Apply(ctx, store.Del(api.KindBindings, "b1")); err != nil {
		t.Fatal(err)
	}
	rec.compile(ctx)
	if rec.LastError() != "" || len(published) != 2 || rec.holder.Load() == good {
		t.Fatalf("after the fix: last error %q, published %v", rec.LastError(), published)
	}
}
