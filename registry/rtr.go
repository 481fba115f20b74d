package registry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// RTR timing defaults and bounds (RFC 8210 §6 gives the ranges).
const (
	rtrDefaultRefresh = 3600 * time.Second
	rtrDefaultRetry   = 600 * time.Second
	rtrDefaultExpire  = 7200 * time.Second
	rtrMinBackoff     = 100 * time.Millisecond
	rtrMaxBackoff     = 30 * time.Second
	// rtrIdleTimeout drops a connection when a query stays unanswered
	// (no PDU at all) this long.
	rtrIdleTimeout = 60 * time.Second
)

// rtrSnapshot is the VRP set of the last End of Data. It is immutable once
// published.
type rtrSnapshot struct {
	vrps     vrpIndex
	count    int
	syncedAt time.Time
	expire   time.Duration
	session  uint16
	serial   uint32
	version  uint8
}

// rtrClient keeps a VRP set in sync with an RFC 8210 cache. One goroutine
// (run) owns the connection; readers use snap.Load().
type rtrClient struct {
	addr      string
	timeout   time.Duration
	log       *slog.Logger
	snap      atomic.Pointer[rtrSnapshot] // nil until the first End of Data
	ready     chan struct{}               // closed at the first End of Data
	readyOnce sync.Once
	version   uint8 // protocol version to offer next; owned by run
	cancel    context.CancelFunc
	done      chan struct{}
}

func startRTR(ctx context.Context, addr string, timeout time.Duration, log *slog.Logger) *rtrClient {
	ctx, cancel := context.WithCancel(ctx)
	c := &rtrClient{
		addr:    addr,
		timeout: timeout,
		log:     log.With("rtr_cache", addr),
		ready:   make(chan struct{}),
		version: 1,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go c.run(ctx)
	return c
}

func (c *rtrClient) close() {
	c.cancel()
	<-c.done
}

// wait blocks until the first End of Data or ctx is done.
func (c *rtrClient) wait(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for rtr cache %q: %w", c.addr, context.Cause(ctx))
	}
}

// current returns the published snapshot, or an error if there is none yet
// or it is older than the cache's expire interval.
func (c *rtrClient) current(now time.Time) (*rtrSnapshot, error) {
	s := c.snap.Load()
	if s == nil {
		return nil, fmt.Errorf("reading rtr cache %q: %w", c.addr, ErrNotSynced)
	}
	if now.Sub(s.syncedAt) > s.expire {
		return nil, fmt.Errorf("reading rtr cache %q: data older than expire interval %s: %w", c.addr, s.expire, ErrNotSynced)
	}
	return s, nil
}

// ErrNotSynced means the RTR cache has not delivered a (fresh) VRP set.
var ErrNotSynced = errors.New("registry: rtr cache not synced")

// errDowngrade asks run to reconnect at once with the lower version.
var errDowngrade = errors.New("cache does not support protocol version; downgrading")

func (c *rtrClient) run(ctx context.Context) {
	defer close(c.done)
	backoff := rtrMinBackoff
	for {
		synced, err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errDowngrade) {
			c.log.Info("rtr cache does not support protocol version, downgrading", "version", c.version)
			continue
		}
		if synced {
			backoff = rtrMinBackoff
		}
		c.log.Warn("rtr session ended, reconnecting", "err", err, "backoff_seconds", backoff.Seconds())
		// Full jitter keeps a fleet from reconnecting in lockstep.
		d := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, rtrMaxBackoff)
	}
}

type pduOrErr struct {
	pdu PDU
	err error
}

// readPDUs reads PDUs from r until an error, sending them to out. It exits
// when done is closed.
func readPDUs(r io.Reader, out chan<- pduOrErr, done <-chan struct{}) {
	br := bufio.NewReader(r)
	hdr := make([]byte, pduHeaderLen)
	for {
		var item pduOrErr
		if _, err := io.ReadFull(br, hdr); err != nil {
			item.err = err
		} else if n, err := PDULen(hdr); err != nil {
			item.err = err
		} else {
			buf := make([]byte, n)
			copy(buf, hdr)
			if _, err := io.ReadFull(br, buf[pduHeaderLen:]); err != nil {
				item.err = err
			} else {
				item.pdu, _, item.err = ParsePDU(buf)
			}
		}
		select {
		case out <- item:
		case <-done:
			return
		}
		if item.err != nil {
			return
		}
	}
}

// session runs one connection: Reset Query, then Serial Queries on Serial
// Notify or refresh. synced reports whether at least one End of Data was
// applied.
func (c *rtrClient) session(ctx context.Context) (synced bool, err error) {
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return false, fmt.Errorf("dialing rtr cache %q: %w", c.addr, err)
	}
	pdus := make(chan pduOrErr)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { readPDUs(conn, pdus, done) })
	defer func() {
		close(done)
		conn.Close()
		wg.Wait()
	}()

	s := rtrSession{c: c, conn: conn, version: c.version}
	if err := s.send(PDU{Type: PDUResetQuery}); err != nil {
		return false, err
	}
	refresh := time.NewTimer(rtrDefaultRefresh)
	defer refresh.Stop()
	idle := time.NewTimer(rtrIdleTimeout)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.synced, ctx.Err()
		case <-idle.C:
			if s.awaiting {
				return s.synced, fmt.Errorf("reading from rtr cache %q: no answer in %s", c.addr, rtrIdleTimeout)
			}
			idle.Reset(rtrIdleTimeout)
		case <-refresh.C:
			if err := s.serialQuery(); err != nil {
				return s.synced, err
			}
		case item := <-pdus:
			if item.err != nil {
				return s.synced, fmt.Errorf("reading from rtr cache %q: %w", c.addr, item.err)
			}
			idle.Reset(rtrIdleTimeout)
			eod, err := s.handle(item.pdu)
			if err != nil {
				return s.synced, err
			}
			if eod {
				refresh.Reset(s.refresh)
			}
		}
	}
}

// rtrSession is the per-connection protocol state, owned by one goroutine.
type rtrSession struct {
	c          *rtrClient
	conn       net.Conn
	version    uint8
	gotAny     bool // a PDU arrived; the version is settled
	synced     bool // an End of Data was applied on this connection
	awaiting   bool // a query is outstanding (until End of Data or Cache Reset)
	inResponse bool // between Cache Response and End of Data
	serialResp bool // the current response answers a Serial Query
	requery    bool // a Serial Notify arrived during a response
	session    uint16
	serial     uint32
	refresh    time.Duration
	current    map[VRP]struct{} // the set as of the last End of Data
	working    map[VRP]struct{} // the set being built
}

func (s *rtrSession) send(p PDU) error {
	p.Version = s.version
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.c.timeout)); err != nil {
		return fmt.Errorf("writing to rtr cache %q: %w", s.c.addr, err)
	}
	if _, err := s.conn.Write(AppendPDU(nil, p)); err != nil {
		return fmt.Errorf("writing to rtr cache %q: %w", s.c.addr, err)
	}
	s.awaiting = true
	s.serialResp = p.Type == PDUSerialQuery
	return nil
}

func (s *rtrSession) serialQuery() error {
	if s.awaiting || !s.synced {
		s.requery = s.synced
		return nil
	}
	return s.send(PDU{Type: PDUSerialQuery, SessionID: s.session, Serial: s.serial})
}

// handle applies one PDU and reports whether it was an End of Data.
func (s *rtrSession) handle(p PDU) (bool, error) {
	addr := s.c.addr
	if p.Type == PDUErrorReport {
		if p.ErrorCode == ErrCodeUnsupportedProtocolVersion && !s.gotAny && s.version > 0 {
			s.c.version = s.version - 1
			return false, errDowngrade
		}
		return false, fmt.Errorf("rtr cache %q sent error report code %d: %q", addr, p.ErrorCode, truncate(p.ErrText, 200))
	}
	if p.Version != s.version {
		if s.gotAny || p.Version > s.version {
			return false, fmt.Errorf("rtr cache %q: unexpected protocol version %d, using %d", addr, p.Version, s.version)
		}
		// The cache answered our first query with a lower version it
		// supports (RFC 8210 §7); use it from now on.
		s.version = p.Version
		s.c.version = p.Version
	}
	s.gotAny = true
	switch p.Type {
	case PDUSerialNotify:
		return false, s.serialQuery()
	case PDUCacheResponse:
		if s.inResponse || !s.awaiting {
			return false, fmt.Errorf("rtr cache %q: unexpected cache response", addr)
		}
		if s.serialResp {
			if p.SessionID != s.session {
				return false, fmt.Errorf("rtr cache %q: session id changed from %d to %d", addr, s.session, p.SessionID)
			}
			s.working = maps.Clone(s.current)
		} else {
			s.session = p.SessionID
			s.working = make(map[VRP]struct{})
		}
		s.inResponse = true
	case PDUIPv4Prefix, PDUIPv6Prefix:
		if !s.inResponse {
			return false, fmt.Errorf("rtr cache %q: prefix pdu outside a response", addr)
		}
		if p.Announce() {
			s.working[p.VRP] = struct{}{}
		} else {
			delete(s.working, p.VRP)
		}
	case PDUEndOfData:
		if !s.inResponse {
			return false, fmt.Errorf("rtr cache %q: unexpected end of data", addr)
		}
		if p.SessionID != s.session {
			return false, fmt.Errorf("rtr cache %q: end of data for session %d, want %d", addr, p.SessionID, s.session)
		}
		s.inResponse, s.awaiting = false, false
		s.current, s.working = s.working, nil
		s.serial = p.Serial
		refresh, expire := rtrDefaultRefresh, rtrDefaultExpire
		if p.Version >= 1 {
			refresh = clampSeconds(p.Refresh, 1, 86400)
			expire = clampSeconds(p.Expire, 600, 172800)
		}
		s.refresh = refresh
		s.publish(expire)
		s.synced = true
		if s.requery {
			s.requery = false
			return true, s.serialQuery()
		}
		return true, nil
	case PDUCacheReset:
		if !s.awaiting || s.inResponse {
			return false, fmt.Errorf("rtr cache %q: unexpected cache reset", addr)
		}
		return false, s.send(PDU{Type: PDUResetQuery})
	case PDURouterKey, PDUASPA:
		// Not used for origin validation.
	default:
		return false, fmt.Errorf("rtr cache %q: unsupported pdu type %d", addr, p.Type)
	}
	return false, nil
}

func (s *rtrSession) publish(expire time.Duration) {
	idx := make(vrpIndex, len(s.current))
	for v := range s.current {
		idx.add(v)
	}
	s.c.snap.Store(&rtrSnapshot{
		vrps:     idx,
		count:    len(s.current),
		syncedAt: time.Now(),
		expire:   expire,
		session:  s.session,
		serial:   s.serial,
		version:  s.version,
	})
	s.c.readyOnce.Do(func() { close(s.c.ready) })
	s.c.log.Debug("rtr end of data", "serial", s.serial, "session_id", s.session, "vrps", len(s.current), "version", s.version)
}

func clampSeconds(v, lo, hi uint32) time.Duration {
	return time.Duration(min(max(v, lo), hi)) * time.Second
}
