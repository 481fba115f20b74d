package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Key layout under the prefix P (which always ends in '/'):
//
//	P<kind>/<key>  one object; kinds and keys contain no '/', so the split is unambiguous
//	P<revKey>      the revision marker: written by every Apply, so its ModRevision is the
//	               store's Rev; its value is etcdMarker. It has no '/' after P, so no object
//	               key can collide with it.
const revKey = "revision"

// etcdMarker is the value of the revision marker: the layout version.
var etcdMarker = fmt.Sprintf(`{"schema":%d}`, SchemaVersion)

// etcdPageSize is how many keys one range request of List or Snapshot reads; the pages of one
// call are all read at the same etcd revision.
const etcdPageSize = 512

// etcdFraming is what Apply keeps free below EtcdOptions.MaxRequestBytes for what etcd adds to
// a transaction before it checks the size (the raft request header, the user name).
const etcdFraming = 1 << 10

// EtcdOptions configures OpenEtcd. Only Endpoints is required.
type EtcdOptions struct {
	// Endpoints are the etcd client URLs ("http://127.0.0.1:2379"). Required.
	Endpoints []string
	// Prefix is the key namespace of this state; several edge nodes that share one state use
	// the same Prefix, independent states on one etcd cluster use prefixes that do not nest.
	// A missing trailing '/' is added. Empty means "/edgesim/".
	Prefix string
	// DialTimeout bounds connecting, authenticating and the first read in OpenEtcd. Zero
	// means 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds one Apply once it has been sent (an Apply does not stop when its
	// ctx is cancelled after the write began; see Etcd.Apply). Zero means 10s.
	RequestTimeout time.Duration
	// TLS, when set, is used for https endpoints; https endpoints without it use the system
	// roots.
	TLS *tls.Config
	// Username and Password authenticate to etcd when Username is set.
	Username, Password string
	// MaxRequestBytes is the server's --max-request-bytes. Apply rejects a batch whose
	// transaction would not fit with ErrInvalid instead of sending it. Zero means etcd's
	// default, 1.5 MiB.
	MaxRequestBytes int
	// Logger receives the backend's own warnings (a lost watch being re-established); the
	// etcd client's internal logging is discarded. Nil discards.
	Logger *slog.Logger
}

func (o EtcdOptions) prefix() string {
	p := o.Prefix
	if p == "" {
		p = "/edgesim/"
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

func (o EtcdOptions) dialTimeout() time.Duration {
	if o.DialTimeout <= 0 {
		return 5 * time.Second
	}
	return o.DialTimeout
}

func (o EtcdOptions) requestTimeout() time.Duration {
	if o.RequestTimeout <= 0 {
		return 10 * time.Second
	}
	return o.RequestTimeout
}

func (o EtcdOptions) maxRequestBytes() int {
	if o.MaxRequestBytes <= 0 {
		return 3 << 19 // 1.5 MiB, etcd's default --max-request-bytes
	}
	return o.MaxRequestBytes
}

// Etcd is the Store kept in etcd, for several edge nodes that share one state: every node
// opens the same endpoints and prefix and sees every other node's writes through Watch.
//
// Each Apply is one etcd transaction that also writes the revision marker, so Rev is the etcd
// revision of the namespace's last Apply (strictly increasing, not consecutive). Reads are
// linearizable. Watch follows the marker with one etcd watch per Etcd, started at the
// revision OpenEtcd read and resumed from the last revision seen, so no change between Open
// and Close is missed. Create one with OpenEtcd; it is safe for concurrent use and must not be
// copied.
type Etcd struct {
	_      [0]sync.Mutex // vet -copylocks
	prefix string
	rev    string // prefix + revKey
	opts   EtcdOptions
	log    *slog.Logger
	watch  *notifier

	stopFollow func()        // stops the marker watch
	followDone chan struct{} // closed when it has stopped

	mu  sync.RWMutex     // read-held by every call, write-held by Close
	cli *clientv3.Client // nil once closed
}

var _ Store = (*Etcd)(nil)

// OpenEtcd connects to etcd and opens the state under opts.Prefix. It fails within
// opts.DialTimeout (or when ctx is done) if no endpoint answers. A namespace that holds keys
// but no revision marker, or a marker of another layout version, is refused with an error
// wrapping ErrSchema; an empty namespace is a new, empty store at revision 0.
func OpenEtcd(ctx context.Context, opts EtcdOptions) (*Etcd, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("opening etcd state: no endpoints")
	}
	prefix := opts.prefix()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.dialTimeout(),
		TLS:         opts.TLS,
		Username:    opts.Username,
		Password:    opts.Password,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd %v: %w", opts.Endpoints, err)
	}
	e := &Etcd{
		prefix: prefix,
		rev:    prefix + revKey,
		opts:   opts,
		log:    log.With("component", "store", "etcd_prefix", prefix),
		watch:  newNotifier(),
		cli:    cli,
	}
	cctx, cancel := context.WithTimeout(ctx, opts.dialTimeout())
	defer cancel()
	start, err := e.check(cctx)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("opening etcd state %q at %v: %w", prefix, opts.Endpoints, err)
	}
	fctx, stop := context.WithCancel(context.Background())
	e.stopFollow = stop
	e.followDone = make(chan struct{})
	go e.follow(fctx, cli, start+1)
	return e, nil
}

// check verifies that the namespace is empty or an edgesim state of this layout, and returns
// the etcd revision it read at.
func (e *Etcd) check(ctx context.Context) (int64, error) {
	resp, err := e.cli.Get(ctx, e.rev)
	if err != nil {
		return 0, err
	}
	at := resp.Header.Revision
	if len(resp.Kvs) == 1 {
		if v := string(resp.Kvs[0].Value); v != etcdMarker {
			return 0, fmt.Errorf("checking revision marker %q: value %q, this build reads %q: %w", e.rev, v, etcdMarker, ErrSchema)
		}
		return at, nil
	}
	// No marker: the namespace must be empty (read at the same revision, so an Apply by
	// another node in between cannot look like foreign keys).
	all, err := e.cli.Get(ctx, e.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(at))
	if err != nil {
		return 0, err
	}
	if all.Count > 0 {
		return 0, fmt.Errorf("checking prefix %q: %d keys but no revision marker %q, so not an edgesim state: %w", e.prefix, all.Count, e.rev, ErrSchema)
	}
	return at, nil
}

// Prefix returns the key namespace, with its trailing '/'.
func (e *Etcd) Prefix() string { return e.prefix }

func (e *Etcd) objectKey(kind, key string) string { return e.prefix + kind + "/" + key }

// Apply implements Store with one etcd transaction holding the batch's puts and deletes and a
// put of the revision marker; the returned Rev is that transaction's etcd revision. Several
// ops on one key are reduced to the last one first (etcd refuses a transaction that touches a
// key twice; the result is the same as applying them in order).
//
// The transaction is unconditional: concurrent Applies from several nodes are ordered by etcd
// and the last write to a key wins. ApplyIf is the conditional form.
//
// A cancelled ctx is honoured before the transaction is sent. Once it is sent, Apply waits for
// etcd's answer for up to EtcdOptions.RequestTimeout regardless of ctx, so that a nil error
// and the change being committed go together. An error after sending (a timeout, a lost
// connection) leaves the outcome unknown: the change is then present entirely or not at all,
// and Rev or Snapshot tell which. A batch whose transaction would exceed
// EtcdOptions.MaxRequestBytes is rejected with ErrInvalid before anything is sent.
func (e *Etcd) Apply(ctx context.Context, ops ...Op) (Rev, error) {
	return e.apply(ctx, nil, ops)
}

// ApplyIf implements Store with the transaction of Apply guarded by a compare of the revision
// marker's ModRevision (etcd compares a missing key's as 0, matching Rev 0), so etcd checks
// and writes in one step, whichever client wrote last. On a failed compare the transaction
// reads the marker instead, to report the revision it found. Timeouts and lost connections
// leave the outcome unknown, as for Apply.
func (e *Etcd) ApplyIf(ctx context.Context, rev Rev, ops ...Op) (Rev, error) {
	return e.apply(ctx, &rev, ops)
}

// apply is Apply when cond is nil, else ApplyIf(*cond).
func (e *Etcd) apply(ctx context.Context, cond *Rev, ops []Op) (Rev, error) {
	if err := validateOps(ops); err != nil {
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), err)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.cli == nil {
		return 0, fmt.Errorf("applying %d ops: %w", len(ops), ErrClosed)
	}
	if len(ops) == 0 {
		rev, err := e.revLocked(ctx)
		if err != nil {
			return 0, fmt.Errorf("applying 0 ops: %w", err)
		}
		if cond != nil && rev != *cond {
			return 0, fmt.Errorf("applying 0 ops at revision %d: %w: the store is at %d", *cond, ErrConflict, rev)
		}
		return rev, nil
	}
	txn, size := e.txnOps(ops, cond)
	if limit := e.opts.maxRequestBytes() - etcdFraming; size > limit {
		return 0, fmt.Errorf("applying %d ops: %w: the transaction is %d bytes, etcd accepts %d (max request bytes %d less %d for framing)",
			len(ops), ErrInvalid, size, limit, e.opts.maxRequestBytes(), etcdFraming)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.requestTimeout())
	defer cancel()
	t := e.cli.Txn(wctx)
	if cond != nil {
		t = t.If(clientv3.Compare(clientv3.ModRevision(e.rev), "=", int64(*cond)))
	}
	t = t.Then(txn...)
	if cond != nil {
		t = t.Else(clientv3.OpGet(e.rev))
	}
	resp, err := t.Commit()
	if err != nil {
		if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) {
			// Refused as a whole by the server (its limits are below etcd's defaults).
			return 0, fmt.Errorf("applying %d ops under etcd prefix %q: %w: %w", len(ops), e.prefix, ErrInvalid, err)
		}
		return 0, fmt.Errorf("applying %d ops under etcd prefix %q: %w", len(ops), e.prefix, err)
	}
	if !resp.Succeeded { // only a conditional transaction can fail its compare
		var cur int64
		if rr := resp.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
			cur = rr.Kvs[0].ModRevision
		}
		return 0, fmt.Errorf("applying %d ops under etcd prefix %q at revision %d: %w: the store is at %d", len(ops), e.prefix, *cond, ErrConflict, cur)
	}
	rev := Rev(resp.Header.Revision)
	e.watch.notify(rev)
	return rev, nil
}

// txnOps turns a validated batch into the transaction's ops, the last op per key only, plus
// the marker put, and returns the transaction's encoded size (with the compare and the
// failure branch's read of the marker when cond is set).
func (e *Etcd) txnOps(ops []Op, cond *Rev) ([]clientv3.Op, int) {
	seen := make(map[string]bool, len(ops))
	var last []Op
	for i := len(ops) - 1; i >= 0; i-- {
		k := e.objectKey(ops[i].Kind, ops[i].Key)
		if !seen[k] {
			seen[k] = true
			last = append(last, ops[i])
		}
	}
	txn := make([]clientv3.Op, 0, len(last)+1)
	req := &pb.TxnRequest{Success: make([]*pb.RequestOp, 0, len(last)+1)}
	for i := len(last) - 1; i >= 0; i-- {
		op := last[i]
		k := e.objectKey(op.Kind, op.Key)
		if op.Delete {
			txn = append(txn, clientv3.OpDelete(k))
			req.Success = append(req.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{
				RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(k)}}})
			continue
		}
		// OpPut copies the value (string conversion), so the caller may reuse it.
		txn = append(txn, clientv3.OpPut(k, string(op.Value)))
		req.Success = append(req.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: []byte(k), Value: op.Value}}})
	}
	txn = append(txn, clientv3.OpPut(e.rev, etcdMarker))
	req.Success = append(req.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
		RequestPut: &pb.PutRequest{Key: []byte(e.rev), Value: []byte(etcdMarker)}}})
	if cond != nil {
		req.Compare = append(req.Compare, &pb.Compare{Result: pb.Compare_EQUAL, Target: pb.Compare_MOD,
			Key: []byte(e.rev), TargetUnion: &pb.Compare_ModRevision{ModRevision: int64(*cond)}})
		req.Failure = append(req.Failure, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{
			RequestRange: &pb.RangeRequest{Key: []byte(e.rev)}}})
	}
	return txn, req.Size()
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, kind, key string) ([]byte, error) {
	name := kind + "/" + key
	if err := validateName("kind", kind); err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	if err := validateName("key", key); err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("getting object %q: %w", name, err)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.cli == nil {
		return nil, fmt.Errorf("getting object %q: %w", name, ErrClosed)
	}
	resp, err := e.cli.Get(ctx, e.objectKey(kind, key))
	if err != nil {
		return nil, fmt.Errorf("getting object %q under etcd prefix %q: %w", name, e.prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("getting object %q: %w", name, ErrNotFound)
	}
	return cloneValue(resp.Kvs[0].Value), nil
}

// List implements Store.
func (e *Etcd) List(ctx context.Context, kind string) ([]KV, error) {
	if err := validateName("kind", kind); err != nil {
		return nil, fmt.Errorf("listing kind %q: %w", kind, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing kind %q: %w", kind, err)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.cli == nil {
		return nil, fmt.Errorf("listing kind %q: %w", kind, ErrClosed)
	}
	from := e.prefix + kind + "/"
	var kvs []KV
	_, err := e.rangeLocked(ctx, from, clientv3.GetPrefixRangeEnd(from), func(k string, v []byte, _ int64) {
		kvs = append(kvs, KV{Key: k[len(from):], Value: cloneValue(v)})
	}, func() { kvs = nil })
	if err != nil {
		return nil, fmt.Errorf("listing kind %q under etcd prefix %q: %w", kind, e.prefix, err)
	}
	return kvs, nil
}

// Snapshot implements Store: every page is read at one etcd revision, and the returned Rev is
// the marker's ModRevision at that revision.
func (e *Etcd) Snapshot(ctx context.Context) (map[string][]KV, Rev, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading snapshot: %w", err)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.cli == nil {
		return nil, 0, fmt.Errorf("reading snapshot: %w", ErrClosed)
	}
	var (
		all map[string][]KV
		rev Rev
	)
	_, err := e.rangeLocked(ctx, e.prefix, clientv3.GetPrefixRangeEnd(e.prefix), func(k string, v []byte, mod int64) {
		rest := k[len(e.prefix):]
		if rest == revKey {
			rev = Rev(mod)
			return
		}
		kind, key, ok := strings.Cut(rest, "/")
		if !ok || checkName(kind) != "" || checkName(key) != "" {
			return // not written by a Store; Apply cannot create such keys
		}
		all[kind] = append(all[kind], KV{Key: key, Value: cloneValue(v)})
	}, func() {
		// (Re)starting the read, after a compaction between pages.
		all, rev = make(map[string][]KV), 0
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading snapshot under etcd prefix %q: %w", e.prefix, err)
	}
	return all, rev, nil
}

// rangeLocked calls fn for every key in [from, end) in key order, reading page by page at the
// revision of the first page. If that revision is compacted before the last page, it calls
// each restart function and reads again from the start, at most 3 times. It returns the
// revision it read at. e.mu must be held and e.cli open.
func (e *Etcd) rangeLocked(ctx context.Context, from, end string, fn func(k string, v []byte, modRev int64), restart ...func()) (int64, error) {
	var err error
	for range 3 {
		for _, r := range restart {
			r()
		}
		var at int64
		if at, err = e.pagesLocked(ctx, from, end, fn); err == nil {
			return at, nil
		}
		if !errors.Is(err, rpctypes.ErrCompacted) {
			return 0, err
		}
	}
	return 0, err
}

func (e *Etcd) pagesLocked(ctx context.Context, from, end string, fn func(k string, v []byte, modRev int64)) (int64, error) {
	var at int64
	for key := from; ; {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(etcdPageSize)}
		if at != 0 {
			opts = append(opts, clientv3.WithRev(at))
		}
		resp, err := e.cli.Get(ctx, key, opts...)
		if err != nil {
			return 0, err
		}
		if at == 0 {
			at = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			fn(string(kv.Key), kv.Value, kv.ModRevision)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return at, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Rev implements Store: the ModRevision of the revision marker, 0 before the first Apply.
func (e *Etcd) Rev(ctx context.Context) (Rev, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("reading revision: %w", err)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.cli == nil {
		return 0, fmt.Errorf("reading revision: %w", ErrClosed)
	}
	return e.revLocked(ctx)
}

// revLocked reads the revision; e.mu must be held and e.cli open.
func (e *Etcd) revLocked(ctx context.Context) (Rev, error) {
	rev, _, err := readMarker(ctx, e.cli, e.rev)
	if err != nil {
		return 0, fmt.Errorf("reading revision under etcd prefix %q: %w", e.prefix, err)
	}
	return rev, nil
}

// readMarker returns the store revision (the marker's ModRevision, 0 if absent) and the etcd
// revision it was read at.
func readMarker(ctx context.Context, cli *clientv3.Client, key string) (Rev, int64, error) {
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return 0, 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, resp.Header.Revision, nil
	}
	return Rev(resp.Kvs[0].ModRevision), resp.Header.Revision, nil
}

// Watch implements Store. It reports the Applies of every client of the same prefix, this
// one's (at once) and other nodes' (when etcd's watch delivers them, typically within
// milliseconds).
func (e *Etcd) Watch(ctx context.Context) <-chan Rev { return e.watch.watch(ctx) }

// follow feeds the notifier from an etcd watch on the revision marker, starting at etcd
// revision from, until ctx is done. The client resumes a broken watch stream from the last
// revision it delivered; if that revision has been compacted meanwhile (or etcd cancels the
// watch for another reason), follow reads the current revision, notifies it (whatever
// happened in the gap is covered by it) and watches again from there.
func (e *Etcd) follow(ctx context.Context, cli *clientv3.Client, from int64) {
	defer close(e.followDone)
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	sleep := func() {
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
	for {
		delivered := false
		for wr := range cli.Watch(ctx, e.rev, clientv3.WithRev(from)) {
			for _, ev := range wr.Events {
				e.watch.notify(Rev(ev.Kv.ModRevision))
				from = ev.Kv.ModRevision + 1
				delivered = true
			}
			if err := wr.Err(); err != nil && ctx.Err() == nil {
				e.log.Warn("etcd watch ended; re-reading the revision", "from_revision", from, "err", err)
			}
		}
		if delivered {
			backoff = minBackoff
		} else {
			sleep() // a watch that keeps failing at once (e.g. permission denied) is not a busy loop
		}
		for ctx.Err() == nil {
			rev, at, err := readMarker(ctx, cli, e.rev)
			if err == nil {
				e.watch.notify(rev)
				from = at + 1
				break
			}
			if ctx.Err() == nil {
				e.log.Warn("re-reading the revision for the etcd watch", "err", err, "retry_seconds", backoff.Seconds())
			}
			sleep()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// Close implements Store. It waits for in-flight calls, stops the watch and closes the etcd
// client; the data stays in etcd.
func (e *Etcd) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cli == nil {
		return nil
	}
	e.stopFollow()
	<-e.followDone
	e.watch.close()
	err := e.cli.Close()
	e.cli = nil
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("closing etcd client: %w", err)
	}
	return nil
}
