package anyip

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// replyTimeout bounds the wait for the kernel's reply to one request.
const replyTimeout = 10 * time.Second

// errInterrupted marks a dump the kernel flagged as inconsistent (the
// table changed while it was being dumped); the dump is retried.
var errInterrupted = errors.New("dump interrupted by a concurrent change")

// Table programs the local routes edgesim owns in one network namespace:
// the namespace of the thread that called Open (the socket stays bound to
// it whatever thread later uses the Table). The zero value is not usable;
// call Open. A Table is safe for concurrent use and must not be copied.
type Table struct {
	mu  sync.Mutex
	fd  int    // -1 once closed
	seq uint32 // of the last request
	lo  uint32 // the loopback interface's index
	buf []byte // receive buffer
}

// Open opens a rtnetlink socket in the calling thread's network namespace,
// finds its loopback interface and checks that the process may change
// routes there (CAP_NET_ADMIN): a Table that cannot is an error now rather
// than at the first Sync. It changes no route.
func Open() (*Table, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("anyip: opening a netlink socket: %w", err)
	}
	t := &Table{fd: fd, buf: make([]byte, 64<<10)}
	if err := t.init(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return t, nil
}

func (t *Table) init() error {
	// Extended ACKs add the kernel's reason to an errno; capped ACKs leave
	// the request out of them. Both are optional (older kernels).
	_ = unix.SetsockoptInt(t.fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	_ = unix.SetsockoptInt(t.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	tv := unix.NsecToTimeval(replyTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(t.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("anyip: setting the netlink receive timeout: %w", err)
	}
	if err := unix.Bind(t.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("anyip: binding the netlink socket: %w", err)
	}
	lo, err := t.loopbackLocked()
	if err != nil {
		return err
	}
	t.lo = lo
	// The kernel checks CAP_NET_ADMIN before it looks for the route to
	// delete, and Sync never adds a default route, so deleting an owned
	// default local route answers "not found" when permitted and changes
	// nothing.
	probe := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if err := t.execLocked(routeRequest(unix.RTM_DELROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK, t.nextSeq(), probe, 0)); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("anyip: checking permission to change routes (needs CAP_NET_ADMIN): %w", err)
	}
	return nil
}

// Close closes the socket; the routes stay (Flush removes them). Closing
// twice is a no-op.
func (t *Table) Close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return nil
	}
	err := unix.Close(t.fd)
	t.fd = -1
	if err != nil {
		return fmt.Errorf("anyip: closing the netlink socket: %w", err)
	}
	return nil
}

// Sync makes the local routes the Table owns (IPv4 and IPv6) exactly want:
// it adds the missing ones first, then deletes those no longer wanted,
// including leftovers of an earlier process. A wanted route that already
// exists counts as added, whoever added it (for IPv6 the kernel keeps one
// local route per prefix and device). Prefixes must be masked, valid and
// not default routes; others are skipped and reported. Duplicates are
// fine. It returns every problem, joined; each failed change is a
// *RouteError.
func (t *Table) Sync(want []netip.Prefix) error {
	if t == nil {
		return ErrClosed
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return ErrClosed
	}
	var errs []error
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, p := range want {
		if err := checkPrefix(p); err != nil {
			errs = append(errs, err)
			continue
		}
		wanted[p] = true
	}
	have, err := t.ownedLocked()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, p := range sortedKeys(wanted) {
		if _, ok := have[p]; !ok {
			if err := t.addLocked(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range sortedKeys(have) {
		if !wanted[p] {
			for _, r := range have[p] {
				if err := t.deleteLocked(r); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Flush deletes every local route the Table owns, and only those.
func (t *Table) Flush() error {
	if t == nil {
		return ErrClosed
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return ErrClosed
	}
	have, err := t.ownedLocked()
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range sortedKeys(have) {
		for _, r := range have[p] {
			if err := t.deleteLocked(r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (t *Table) addLocked(p netip.Prefix) error {
	err := t.execLocked(routeRequest(unix.RTM_NEWROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE, t.nextSeq(), p, t.lo))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &RouteError{Op: "adding", Prefix: p, Err: err}
	}
	return nil
}

// deleteLocked deletes r, matching its protocol (Proto) so that a route
// someone else added for the same prefix stays. Already gone is fine.
func (t *Table) deleteLocked(r route) error {
	err := t.execLocked(routeRequest(unix.RTM_DELROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK, t.nextSeq(), r.prefix, r.oif))
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return &RouteError{Op: "deleting", Prefix: r.prefix, Err: err}
	}
	return nil
}

// ownedLocked dumps table local and returns the routes the Table owns, by
// prefix.
func (t *Table) ownedLocked() (map[netip.Prefix][]route, error) {
	have := map[netip.Prefix][]route{}
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		var got []route
		var err error
		for range 3 {
			got = got[:0]
			err = t.roundTripLocked(routeDumpRequest(t.nextSeq(), fam), func(m message) error {
				if m.typ != unix.RTM_NEWROUTE {
					return nil
				}
				r, ok, err := parseRoute(m.data)
				if err != nil || !ok || family(r.prefix.Addr()) != fam || !r.owned() {
					return err
				}
				got = append(got, r)
				return nil
			})
			if !errors.Is(err, errInterrupted) {
				break
			}
		}
		if fam == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
			continue // IPv6 is off: nothing to own
		}
		if err != nil {
			return nil, fmt.Errorf("anyip: listing the local routes (family %d): %w", fam, err)
		}
		for _, r := range got {
			have[r.prefix] = append(have[r.prefix], r)
		}
	}
	return have, nil
}

// loopbackLocked returns the index of the namespace's loopback interface.
func (t *Table) loopbackLocked() (uint32, error) {
	var lo uint32
	err := t.roundTripLocked(linkDumpRequest(t.nextSeq()), func(m message) error {
		if m.typ != unix.RTM_NEWLINK {
			return nil
		}
		index, flags, err := parseLink(m.data)
		if err == nil && lo == 0 && flags&unix.IFF_LOOPBACK != 0 {
			lo = index
		}
		return err
	})
	if err == nil && lo == 0 {
		err = errors.New("no loopback interface in this network namespace")
	}
	if err != nil {
		return 0, fmt.Errorf("anyip: finding the loopback interface: %w", err)
	}
	return lo, nil
}

func (t *Table) nextSeq() uint32 {
	t.seq++
	return t.seq
}

// execLocked sends a request that asks for an ACK and returns the
// kernel's answer: nil, or a *kernelError.
func (t *Table) execLocked(req []byte) error {
	return t.roundTripLocked(req, func(message) error { return nil })
}

// roundTripLocked sends req and reads the kernel's replies to it until the
// last one: an NLMSG_ERROR (nil error: an ACK) or a dump's NLMSG_DONE.
// Every other reply goes to fn; the first error fn returns is returned
// once the replies are read. Replies to earlier requests (e.g. one whose
// wait timed out) are skipped.
func (t *Table) roundTripLocked(req []byte, fn func(message) error) error {
	seq := ne.Uint32(req[8:12])
	if err := unix.Sendto(t.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending a netlink request: %w", err)
	}
	var fnErr error
	interrupted := false
	for {
		n, _, rflags, from, err := unix.Recvmsg(t.fd, t.buf, nil, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receiving a netlink reply: %w", err)
		}
		if rflags&unix.MSG_TRUNC != 0 {
			return fmt.Errorf("receiving a netlink reply: truncated to %d bytes", len(t.buf))
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		msgs, err := parseMessages(t.buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue
			}
			if m.flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch m.typ {
			case unix.NLMSG_NOOP:
			case unix.NLMSG_ERROR:
				if err := parseError(m); err != nil {
					return err
				}
				return fnErr
			case unix.NLMSG_DONE:
				if len(m.data) >= 4 {
					if err := parseError(m); err != nil {
						return err
					}
				}
				if interrupted {
					return errInterrupted
				}
				return fnErr
			case unix.NLMSG_OVERRUN:
				return errors.New("netlink overrun: data lost")
			default:
				if fnErr == nil {
					fnErr = fn(m)
				}
			}
		}
	}
}
