package store_test

import (
	"testing"

	"github.com/edgesim/edgesim/store"
	"github.com/edgesim/edgesim/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}
