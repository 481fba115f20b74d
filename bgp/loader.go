package bgp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// loader feeds paths to GoBGP in batches. GoBGP v3.37 has no exported
// batch call: BgpServer.AddPath runs one management operation per path
// (a round trip through GoBGP's main loop plus a UUID per path), while its
// gRPC AddPathStream runs one operation per message. The loader serves
// GoBGP's gRPC API on a unix socket in a private directory (0700) and
// allows only AddPathStream on it, so another local process can at most
// add paths, which the export policy rejects unless they are in the Sync
// set.
type loader struct {
	dir  string
	conn *grpc.ClientConn
	cli  api.GobgpApiClient
}

const (
	methodAddPathStream = "/apipb.GobgpApi/AddPathStream"
	// loadBatch is the number of paths per stream message: about 60-120
	// bytes each, far below gRPC's 4 MiB message limit, and short enough
	// (tens of ms) not to stall GoBGP's main loop for other events.
	loadBatch = 4096
)

// newLoaderServer creates the GoBGP server with the loader's socket. The
// caller must call (*loader).connect once the server runs and close it
// after the server has stopped.
func newLoaderServer(opts ...server.ServerOption) (*server.BgpServer, *loader, error) {
	dir, err := os.MkdirTemp("", "edgesim-bgp-")
	if err == nil && len(dir) > 90 { // unix socket paths are limited to 108 bytes
		os.Remove(dir)
		dir, err = os.MkdirTemp("/tmp", "edgesim-bgp-")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("creating the gobgp api socket directory: %w", err)
	}
	onlyStream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if info.FullMethod != methodAddPathStream {
			return status.Error(codes.PermissionDenied, "edgesim: only AddPathStream")
		}
		return h(srv, ss)
	}
	noUnary := func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
		return nil, status.Error(codes.PermissionDenied, "edgesim: only AddPathStream")
	}
	target := "unix://" + filepath.Join(dir, "api.sock")
	opts = append(opts,
		server.GrpcListenAddress(target),
		server.GrpcOption([]grpc.ServerOption{grpc.StreamInterceptor(onlyStream), grpc.UnaryInterceptor(noUnary)}))
	srv := server.NewBgpServer(opts...)
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("creating the gobgp api client: %w", err)
	}
	return srv, &loader{dir: dir, conn: conn, cli: api.NewGobgpApiClient(conn)}, nil
}

// connect waits until the client is connected to GoBGP's API socket
// (GoBGP starts listening asynchronously).
func (l *loader) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l.conn.Connect()
	for {
		st := l.conn.GetState()
		if st == connectivity.Ready {
			return nil
		}
		if !l.conn.WaitForStateChange(ctx, st) {
			return fmt.Errorf("connecting to the gobgp api socket in %s: %w (last state %s)", l.dir, ctx.Err(), st)
		}
	}
}

// load adds (or, with IsWithdraw, deletes) the n paths that path(i)
// returns in the global table, one GoBGP management operation per
// loadBatch paths. Paths are built a batch at a time, while GoBGP works on
// the previous one. After an error, GoBGP may hold some of the paths.
func (l *loader) load(ctx context.Context, n int, path func(i int) (*api.Path, error)) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // aborts the stream on an early return
	st, err := l.cli.AddPathStream(ctx, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("opening the path stream: %w", err)
	}
	batch := make([]*api.Path, 0, min(n, loadBatch))
	for i := 0; i < n; {
		batch = batch[:0]
		for ; i < n && len(batch) < loadBatch; i++ {
			p, err := path(i)
			if err != nil {
				return err
			}
			batch = append(batch, p)
		}
		// Send marshals the message before it returns: batch is reusable.
		if err := st.Send(&api.AddPathStreamRequest{TableType: api.TableType_GLOBAL, Paths: batch}); err != nil {
			// The real error comes with the stream's status.
			_, cerr := st.CloseAndRecv()
			return fmt.Errorf("streaming path %d of %d: %w", i, n, errors.Join(err, cerr))
		}
	}
	if _, err := st.CloseAndRecv(); err != nil {
		return fmt.Errorf("closing the path stream: %w", err)
	}
	return nil
}

// close releases the client and the socket directory; call it after the
// GoBGP server (and with it the gRPC server) has stopped.
func (l *loader) close() error {
	return errors.Join(l.conn.Close(), os.RemoveAll(l.dir))
}
