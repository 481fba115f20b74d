// Command dnsserve serves zone files with edgesim's dnsmap responder, for
// bench/dns.sh and manual comparison with knotd. It is a load-test helper,
// not part of edged.
//
//	go run ./bench/dnsserve -addr 127.0.0.1:5301 -sockets 1 bench.test.zone
//
// Each argument is a zone file named <origin>zone (e.g. bench.test.zone
// for bench.test.). It serves UDP (with -sockets SO_REUSEPORT sockets) and
// TCP on -addr until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgesim/edgesim/dnsmap"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5301", "listen address (udp and tcp)")
	sockets := flag.Int("sockets", 1, "UDP sockets bound to addr with SO_REUSEPORT")
	workers := flag.Int("workers", 0, "goroutines per UDP socket (0: GOMAXPROCS)")
	batch := flag.Int("batch", 0, "datagrams per recvmmsg/sendmmsg (0: default)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(log, *addr, *sockets, *workers, *batch, flag.Args()); err != nil {
		log.Error("dnsserve failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, addr string, sockets, workers, batch int, files []string) error {
	var zones []dnsmap.Zone
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("opening zone %q: %w", f, err)
		}
		z, err := dnsmap.ParseZone(r, strings.TrimSuffix(filepath.Base(f), "zone"), f)
		r.Close()
		if err != nil {
			return err
		}
		zones = append(zones, z)
	}
	t0 := time.Now()
	set, err := dnsmap.Build(zones)
	if err != nil {
		return fmt.Errorf("building answer set: %w", err)
	}
	log.Info("built answer set", "zones", len(zones), "seconds", time.Since(t0).Seconds())
	srv, err := dnsmap.New(dnsmap.Options{Logger: log, Workers: workers, Batch: batch})
	if err != nil {
		return err
	}
	srv.Store(set)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return serr
	}}
	errs := make(chan error, sockets+1)
	for range sockets {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return fmt.Errorf("listening on udp %q: %w", addr, err)
		}
		defer pc.Close()
		go func() { errs <- srv.ServeUDP(ctx, pc.(*net.UDPConn)) }()
	}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on tcp %q: %w", addr, err)
	}
	go func() { errs <- srv.ServeTCP(ctx, ln) }()
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
