package store

import (
	"context"
	"sync"
)

// notifier fans revisions out to Watch channels. The zero value is not usable; use newNotifier.
type notifier struct {
	mu     sync.Mutex
	subs   map[chan Rev]struct{}
	last   Rev
	closed bool
	done   chan struct{} // closed by close
}

func newNotifier() *notifier {
	return &notifier{subs: make(map[chan Rev]struct{}), done: make(chan struct{})}
}

// watch registers a subscriber that lives until ctx is done or the notifier is closed.
func (n *notifier) watch(ctx context.Context) <-chan Rev {
	ch := make(chan Rev, 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		close(ch)
		return ch
	}
	n.subs[ch] = struct{}{}
	go n.unsubscribeWhenDone(ctx, ch)
	return ch
}

func (n *notifier) unsubscribeWhenDone(ctx context.Context, ch chan Rev) {
	select {
	case <-ctx.Done():
	case <-n.done:
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.subs[ch]; ok {
		delete(n.subs, ch)
		close(ch)
	}
}

// notify sends r to every subscriber, replacing an unread older revision. Revisions reported
// out of order by concurrent Applies are dropped, so subscribers only see increasing values.
func (n *notifier) notify(r Rev) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r <= n.last {
		return
	}
	n.last = r
	for ch := range n.subs {
		select {
		case ch <- r:
		default:
			// Full: drop the stale value. Only notify sends, under n.mu, so the send
			// below cannot block.
			select {
			case <-ch:
			default:
			}
			ch <- r
		}
	}
}

// close closes every subscriber channel; later watch calls get a closed channel.
func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	close(n.done)
	for ch := range n.subs {
		delete(n.subs, ch)
		close(ch)
	}
}
