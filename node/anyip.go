package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/anyip"
)

// anyipRetry is how long a failed route sync waits before it is retried
// (a new snapshot retries at once).
const anyipRetry = 5 * time.Second

// routeTable is what anyipNode needs of an *anyip.Table; tests pass fakes.
type routeTable interface {
	Sync(want []netip.Prefix) error
	Flush() error
	Close() error
}

// anyipNode keeps edged's network namespace accepting traffic for every
// address the edge announces: AnyIP local routes (see internal/anyip) for
// the latest snapshot's announced prefixes plus the anycast pool, so that
// the proxy's wildcard listeners receive the traffic of whole prefixes.
// Like the announcer it follows snapshots through a one-slot mailbox: the
// reconciler never waits on netlink and the routes converge on the latest
// snapshot. A failed sync is retried after anyipRetry and with the next
// snapshot; its error is logged once until it changes.
type anyipNode struct {
	tbl   routeTable
	pool  []netip.Prefix // the anycast pool, always local
	log   *slog.Logger
	retry time.Duration

	box *mailbox

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	// Owned by the run goroutine (and by close once it has stopped).
	synced uint64      // generation of the last complete sync
	failed string      // the last sync error logged
	timer  *time.Timer // the pending retry
}

// startAnyIP opens the route table of the calling thread's network
// namespace (edged's) and starts following snapshots; it changes no route
// until a snapshot is published.
func startAnyIP(pool []netip.Prefix, log *slog.Logger) (*anyipNode, error) {
	tbl, err := anyip.Open()
	if err != nil {
		return nil, fmt.Errorf("opening the anyip route table (listen.anyip): %w", err)
	}
	return runAnyIP(tbl, pool, anyipRetry, log), nil
}

// runAnyIP starts keeping tbl in line with the published snapshots.
func runAnyIP(tbl routeTable, pool []netip.Prefix, retry time.Duration, log *slog.Logger) *anyipNode {
	ctx, stop := context.WithCancel(context.Background())
	n := &anyipNode{
		tbl: tbl, pool: pool, log: log.With("component", "node"), retry: retry,
		box: newMailbox(), stop: stop, done: make(chan struct{}),
	}
	go func() { defer close(n.done); n.run(ctx) }()
	return n
}

// publish hands s to the route updater; it never blocks.
func (n *anyipNode) publish(s *config.Snapshot) { n.box.Put(s) }

// prefixes returns what must be local for s: the anycast pool, then the
// announced prefixes.
func (n *anyipNode) prefixes(s *config.Snapshot) []netip.Prefix {
	anns := s.Announcements()
	out := make([]netip.Prefix, 0, len(n.pool)+len(anns))
	out = append(out, n.pool...)
	for _, a := range anns {
		out = append(out, a.CIDR)
	}
	return out
}

// run syncs the routes with the latest snapshot until ctx is done.
func (n *anyipNode) run(ctx context.Context) {
	for {
		s, ok := n.box.Take(ctx)
		if !ok {
			return
		}
		if s.Generation == n.synced && n.synced != 0 {
			continue
		}
		want := n.prefixes(s)
		if err := n.tbl.Sync(want); err != nil {
			if msg := err.Error(); msg != n.failed {
				n.failed = msg
				n.log.Error("syncing anyip routes; retrying", "generation", s.Generation, "retry_seconds", n.retry.Seconds(), "err", err)
			}
			if n.timer == nil {
				n.timer = time.AfterFunc(n.retry, n.box.Wake)
			} else {
				n.timer.Reset(n.retry)
			}
			continue
		}
		if n.failed != "" {
			n.failed = ""
			n.log.Info("anyip routes synced after errors", "generation", s.Generation, "prefixes", len(want))
		}
		n.synced = s.Generation
		n.log.Debug("anyip routes synced", "generation", s.Generation, "prefixes", len(want))
	}
}

// close stops following snapshots, deletes every route the table owns and
// closes it. It may be called more than once.
func (n *anyipNode) close() error {
	var err error
	n.closeOnce.Do(func() {
		n.stop()
		<-n.done
		if n.timer != nil {
			n.timer.Stop()
		}
		err = errors.Join(n.tbl.Flush(), n.tbl.Close())
	})
	return err
}
