package api

import (
	"context"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/store"
)

// LoadState reads the control-plane state the API persisted in st. The node
// reconciler uses it to compile snapshots from the store, the source of
// truth, rather than from a Server's memory.
func LoadState(ctx context.Context, st store.Store) (*config.State, error) {
	return loadState(ctx, st)
}
