package node

import (
	"context"
	"log/slog"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/store"
)

// openState opens the configured state: the etcd backend when state.etcd is
// set (state.path is then ignored), else the bbolt file at state.path.
func openState(ctx context.Context, s config.StateConfig, log *slog.Logger) (store.Store, error) {
	if e := s.Etcd; e != nil {
		return store.OpenEtcd(ctx, store.EtcdOptions{
			Endpoints:   e.Endpoints,
			Prefix:      e.Prefix,
			Username:    e.Username,
			Password:    e.Password,
			DialTimeout: e.DialTimeout.Std(),
			Logger:      log,
		})
	}
	return store.OpenBolt(s.Path, store.BoltOptions{})
}
