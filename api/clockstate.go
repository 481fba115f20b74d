package api

import (
	"fmt"
	"strconv"
	"time"

	"github.com/edgesim/edgesim/store"
)

// The lab clock's fast-forward offset is state like any other: binding
// activation and advertisement times were computed on the shifted clock, so
// a restart that forgot the offset would send active bindings back to
// provisioning. It is stored as decimal nanoseconds, read with the rest of
// the state (one Snapshot) and written with ApplyIf like every commit.
const (
	KindMeta       = "meta"
	keyClockOffset = "clock_offset"
)

// storedClockOffset returns the offset stored among meta (the objects of
// kind meta), 0 when none is stored.
func storedClockOffset(meta []store.KV) (time.Duration, error) {
	for _, kv := range meta {
		if kv.Key != keyClockOffset {
			continue
		}
		ns, err := strconv.ParseInt(string(kv.Value), 10, 64)
		if err != nil || ns < 0 {
			return 0, fmt.Errorf("loading the clock offset: bad stored value %q", kv.Value)
		}
		return time.Duration(ns), nil
	}
	return 0, nil
}

// clockOffsetOp stores off.
func clockOffsetOp(off time.Duration) store.Op {
	return store.Put(KindMeta, keyClockOffset, []byte(strconv.FormatInt(int64(off), 10)))
}
