package anyip

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Proto is the routing protocol number (rtm_protocol) that marks the routes
// a Table owns; `ip route show table local proto 237` lists them. 237 (0xed)
// is unassigned in iproute2's rt_protos and by the kernel.
const Proto = 237

// ErrClosed is returned by the methods of a closed (or nil) Table.
var ErrClosed = errors.New("anyip: table closed")

// RouteError reports a failed change to one local route. Err wraps the
// kernel's errno (a syscall.Errno), so errors.Is(err, syscall.EPERM) works.
type RouteError struct {
	Op     string // "adding" or "deleting"
	Prefix netip.Prefix
	Err    error
}

func (e *RouteError) Error() string {
	return fmt.Sprintf("anyip: %s local route %s: %v", e.Op, e.Prefix, e.Err)
}

func (e *RouteError) Unwrap() error { return e.Err }

// checkPrefix rejects what Sync must not turn into a route: invalid and
// IPv4-mapped prefixes, prefixes with host bits set, and default routes
// (which would make every destination local).
func checkPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("anyip: skipping invalid prefix %q", p)
	case p.Addr().Is4In6():
		return fmt.Errorf("anyip: skipping IPv4-mapped prefix %s; want %s", p, netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked())
	case p != p.Masked():
		return fmt.Errorf("anyip: skipping prefix %s: host bits set; want %s", p, p.Masked())
	case p.Bits() == 0:
		return fmt.Errorf("anyip: skipping prefix %s: a default local route would make every destination local", p)
	}
	return nil
}

// comparePrefix orders IPv4 before IPv6, then by address, then by length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// sortedKeys returns the prefixes of m in comparePrefix order.
func sortedKeys[V any](m map[netip.Prefix]V) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefix)
	return out
}
