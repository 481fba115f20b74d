package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/edgesim/edgesim/api"
	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/clock"
	"github.com/edgesim/edgesim/registry"
)

// Options configure Run.
type Options struct {
	Daemon *config.Daemon
	// Listener, when set, is used for the API instead of listening on
	// Daemon.Listen.API (tests pass a :0 listener).
	Listener net.Listener
	// Ready, when set, is called once the API accepts connections, with its
	// address.
	Ready  func(addr net.Addr)
	Logger *slog.Logger // nil = discard
	// DrainTimeout bounds how long shutdown waits for in-flight requests.
	// Default 10s.
	DrainTimeout time.Duration
}

// Run runs the edge until ctx is done, then shuts it down. It returns nil
// after a clean shutdown and an error when the edge could not start or
// stopped for another reason. Whatever it opened is closed before it
// returns.
func Run(ctx context.Context, opts Options) (err error) {
	d := opts.Daemon
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	drain := opts.DrainTimeout
	if drain <= 0 {
		drain = 10 * time.Second
	}

	st, err := openState(ctx, d.State, log)
	if err != nil {
		return fmt.Errorf("opening state: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing state: %w", cerr)
		}
	}()

	val, closeVal, err := newValidator(ctx, d.Validation, log)
	if err != nil {
		return err
	}
	defer closeVal()

	clk := clock.New(nil)
	mets := newMetrics() // the data-plane servers register their counters on it
	srv, err := api.New(ctx, api.Options{
		Daemon:    d,
		Store:     st,
		Validator: val,
		Clock:     clk,
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("starting api: %w", err)
	}
	defer srv.Close()
	mets.watchAPI(srv)

	// The DNS responder binds now and serves once the first snapshot is
	// compiled; it stops after the BGP speaker and before the store.
	var dnsN *dnsNode
	if d.Listen.DNS != "" {
		if dnsN, err = listenDNS(d.Listen.DNS, d.Zones, mets.reg, log); err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			if cerr := dnsN.close(cctx); cerr != nil {
				log.Error("stopping the dns server", "err", cerr)
			}
		}()
	}

	// The AnyIP local routes follow the snapshots from the first one on
	// (Open fails here without CAP_NET_ADMIN); they are removed after the
	// BGP speaker withdraws and the proxy stops, before the store closes.
	var aip *anyipNode
	if d.Listen.AnyIP {
		if aip, err = startAnyIP(d.Pool(), log); err != nil {
			return err
		}
		defer func() {
			if cerr := aip.close(); cerr != nil {
				log.Error("removing the anyip routes", "err", cerr)
			}
		}()
	}

	// The Spectrum proxy follows the snapshots from the first one on; it
	// stops after the BGP speaker withdraws and before the store closes.
	var prox *proxyNode
	if d.Listen.Proxy {
		if prox, err = startProxy(d.Pool(), mets.reg, log); err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			if cerr := prox.close(cctx); cerr != nil {
				log.Error("stopping the proxy", "err", cerr)
			}
		}()
	}

	ln := opts.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", d.Listen.API)
		if err != nil {
			return fmt.Errorf("listening for the api on %s: %w", d.Listen.API, err)
		}
	}
	defer ln.Close() // on error paths; after a clean Shutdown this is a no-op
	// The BGP speaker announces what each snapshot says, through a mailbox
	// so that a slow Sync never holds up the reconciler.
	sp, peers, err := newSpeaker(ctx, d.BGP, log)
	if err != nil {
		return err
	}
	var ann *announcer
	closeSpeaker := func() {}
	if sp != nil {
		ann = newAnnouncer(sp, sharedAttrs(d.BGP), d.Pool(), log.With("component", "node"))
		actx, stopAnn := context.WithCancel(context.Background())
		annDone := make(chan struct{})
		go func() { defer close(annDone); ann.run(actx) }()
		// Shutdown withdraws first (or keeps routes for graceful restart)
		// so traffic moves away before the servers stop; the defer covers
		// the error paths.
		closeSpeaker = sync.OnceFunc(func() {
			stopAnn()
			<-annDone
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if cerr := sp.Close(cctx); cerr != nil {
				log.Error("closing the bgp speaker", "err", cerr)
			}
		})
		defer closeSpeaker()
		if err := sp.SetPeers(ctx, peers); err != nil {
			return fmt.Errorf("configuring bgp peers: %w", err)
		}
	}

	// The reconciler publishes snapshots of the stored state; the first is
	// compiled before the API accepts connections.
	holder := config.NewHolder()
	rec := &reconciler{
		st: st, clock: clk, holder: holder, log: log.With("component", "node"),
		opts: config.CompileOptions{AnycastPool: d.Pool(), ManagedAddressMaps: d.ManagedAddressMaps()},
	}
	mets.watch(holder, &rec.failures, sp)
	if ann != nil || dnsN != nil || prox != nil || aip != nil {
		rec.published = func(s *config.Snapshot) {
			if ann != nil {
				ann.publish(s)
			}
			if dnsN != nil {
				dnsN.publish(s)
			}
			if prox != nil {
				prox.publish(s)
			}
			if aip != nil {
				aip.publish(s)
			}
		}
	}
	rctx, stopRec := context.WithCancel(ctx)
	firstDone := make(chan struct{})
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		rec.run(rctx, func() { close(firstDone) })
	}()
	defer func() { stopRec(); <-recDone }()
	select {
	case <-firstDone:
	case <-ctx.Done():
		return nil
	}

	var dnsErr <-chan error // nil (never ready) without DNS
	if dnsN != nil {
		dnsN.start(holder.Load())
		dnsErr = dnsN.errs
	}

	hs := &http.Server{
		Handler:           mets.instrument(adminHandler(holder, rec.LastError, sp, listenersOf(ln.Addr(), dnsN, prox), mets.handler(), srv.Handler())),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	log.Info("api listening", "addr", ln.Addr().String(), "state", d.State.Path)
	if opts.Ready != nil {
		opts.Ready(ln.Addr())
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving the api: %w", err)
	case err := <-dnsErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_timeout", drain.Seconds())
	closeSpeaker()
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if dnsN != nil {
		if err := dnsN.close(sctx); err != nil {
			log.Error("stopping the dns server", "err", err)
		}
	}
	if prox != nil {
		if err := prox.close(sctx); err != nil {
			log.Error("stopping the proxy", "err", err)
		}
	}
	if aip != nil {
		if err := aip.close(); err != nil {
			log.Error("removing the anyip routes", "err", err)
		}
	}
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopping the api: %w", err)
	}
	return nil
}

// newValidator returns the prefix validator for the configured sources.
func newValidator(ctx context.Context, s config.Sources, log *slog.Logger) (api.Validator, func(), error) {
	if s.AutoValid {
		return api.AutoValid{}, func() {}, nil
	}
	v, err := registry.New(ctx, registry.Options{
		IRRFiles:  s.IRRFiles,
		ROAFile:   s.ROAFile,
		RTRAddr:   s.RTR,
		DNSServer: s.DNSServer,
		Logger:    log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("starting validation sources: %w", err)
	}
	return registryValidator{v}, func() { v.Close() }, nil
}

// registryValidator adapts registry.Validator to api.Validator.
type registryValidator struct{ v *registry.Validator }

func (r registryValidator) Validate(ctx context.Context, p netip.Prefix, asn uint32, token string) (config.Validation, error) {
	res, err := r.v.Validate(ctx, p, asn, token)
	if err != nil {
		return config.Validation{}, err
	}
	return config.Validation{
		IRR:       config.ValidationState(res.IRR),
		RPKI:      config.ValidationState(res.RPKI),
		Ownership: config.ValidationState(res.Ownership),
	}, nil
}
