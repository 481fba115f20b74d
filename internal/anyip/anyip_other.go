//go:build !linux

package anyip

import (
	"errors"
	"fmt"
	"net/netip"
)

var errUnsupported = fmt.Errorf("anyip: local routes: %w (linux only)", errors.ErrUnsupported)

// Table is a stub outside Linux; Open always fails.
type Table struct{}

// Open returns an error wrapping errors.ErrUnsupported outside Linux.
func Open() (*Table, error) { return nil, errUnsupported }

// Close does nothing outside Linux.
func (t *Table) Close() error { return nil }

// Sync fails outside Linux.
func (t *Table) Sync(want []netip.Prefix) error { return errUnsupported }

// Flush fails outside Linux.
func (t *Table) Flush() error { return errUnsupported }
