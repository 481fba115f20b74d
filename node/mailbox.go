package node

import (
	"context"
	"sync"

	"github.com/edgesim/edgesim/config"
)

// mailbox hands published snapshots from the reconciler to one slow
// consumer (the BGP announcer, the DNS and proxy updaters): Put never
// blocks, and the consumer always gets the latest snapshot, never a stale
// one, skipping any it was too slow to see. The zero value is not usable;
// call newMailbox.
type mailbox struct {
	mu     sync.Mutex
	latest *config.Snapshot
	kick   chan struct{} // buffered(1)
}

func newMailbox() *mailbox { return &mailbox{kick: make(chan struct{}, 1)} }

// Put replaces the waiting snapshot with s and wakes the consumer.
func (m *mailbox) Put(s *config.Snapshot) {
	m.mu.Lock()
	m.latest = s
	m.mu.Unlock()
	m.Wake()
}

// Wake makes the consumer take the current snapshot again (a retry).
func (m *mailbox) Wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Take waits for a snapshot and returns the latest one; ok is false once
// ctx is done.
func (m *mailbox) Take(ctx context.Context) (s *config.Snapshot, ok bool) {
	for {
		select {
		case <-ctx.Done():
			return nil, false
		case <-m.kick:
		}
		m.mu.Lock()
		s = m.latest
		m.mu.Unlock()
		if s != nil {
			return s, true
		}
	}
}
