package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/edgesim/edgesim/internal/clock"
	"github.com/edgesim/edgesim/store"
)

// The lab clock's fast-forward offset is state like any other: binding
// activation and advertisement times were computed on the shifted clock, so
// a restart that forgot the offset would send active bindings back to
// provisioning. It is stored as decimal nanoseconds.
const (
	KindMeta       = "meta"
	keyClockOffset = "clock_offset"
)

// restoreClockOffset advances c to the stored offset (a no-op when none is
// stored or c is already ahead).
func restoreClockOffset(ctx context.Context, st store.Store, c *clock.Clock) error {
	b, err := st.Get(ctx, KindMeta, keyClockOffset)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading the clock offset: %w", err)
	}
	ns, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || ns < 0 {
		return fmt.Errorf("loading the clock offset: bad stored value %q", b)
	}
	c.FastForward(time.Duration(ns) - c.Offset())
	return nil
}

// persistClockOffset stores c's current offset durably.
func persistClockOffset(ctx context.Context, st store.Store, c *clock.Clock) error {
	v := strconv.FormatInt(int64(c.Offset()), 10)
	if _, err := st.Apply(ctx, store.Put(KindMeta, keyClockOffset, []byte(v))); err != nil {
		return fmt.Errorf("storing the clock offset: %w", err)
	}
	return nil
}
