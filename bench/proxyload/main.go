// Command proxyload benchmarks edgesim's proxy against HAProxy (splice on)
// and a direct connection, on loopback, side by side and interleaved in one
// run. Subcommands:
//
//	proxyload serve  -tcp 8001=127.0.0.1:5201/off,... -udp 8301=127.0.0.1:6001/simple
//	proxyload origin -http 127.0.0.1:9000 -echo 127.0.0.1:9001
//	proxyload run    [-rounds 3] [-dur 4s] [-idle 10000]   (starts everything itself)
//
// run needs iperf3 and haproxy in PATH (scripts/deps.sh). Every load is
// bounded in count and time, and every process it starts is stopped by PID.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/edgesim/edgesim/proxy"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: proxyload serve|origin|run [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "origin":
		err = origin(ctx, os.Args[2:])
	case "run":
		err = run(ctx, os.Args[2:])
	case "load":
		err = load(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxyload:", err)
		os.Exit(1)
	}
}

// raiseNofile lifts RLIMIT_NOFILE (as root, past the hard limit).
func raiseNofile(n uint64) {
	var r syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	if r.Cur >= n {
		return
	}
	r.Cur = n
	if r.Max < n {
		r.Max = n
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
		r.Cur = r.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}

// serve runs edgesim's proxy with a static table: the served prefix is
// 127.0.0.0/8, each app listens on its own wildcard port, ip_firewall is on
// with a few non-matching block rules, so every connection pays the lookup,
// the firewall and (per flag) the PROXY header.
func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	tcpSpec := fs.String("tcp", "", "edgeport=origin:port/pp,... (pp: off|v1|v2)")
	udpSpec := fs.String("udp", "", "edgeport=origin:port/pp,... (pp: off|v2|simple)")
	debug := fs.Bool("debug", false, "debug logging")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here until exit")
	fs.Parse(args)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	raiseNofile(1 << 17)
	lvl := slog.LevelInfo
	if *debug {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	p, err := proxy.New(proxy.Options{Logger: log})
	if err != nil {
		return err
	}
	var apps []*proxy.App
	for _, spec := range []struct {
		s string
		t proxy.Transport
	}{{*tcpSpec, proxy.TCP}, {*udpSpec, proxy.UDP}} {
		for item := range strings.SplitSeq(spec.s, ",") {
			if item == "" {
				continue
			}
			var port uint16
			var rest string
			if _, err := fmt.Sscanf(strings.Replace(item, "=", " ", 1), "%d %s", &port, &rest); err != nil {
				return fmt.Errorf("parsing %q: %w", item, err)
			}
			o, pp, _ := strings.Cut(rest, "/")
			oap, err := netip.ParseAddrPort(o)
			if err != nil {
				return fmt.Errorf("parsing origin %q: %w", o, err)
			}
			a := &proxy.App{ID: fmt.Sprintf("%s%d", spec.t, port), Transport: spec.t, EdgePortLow: port, EdgePortHigh: port,
				Origins: []netip.AddrPort{oap}, IPFirewall: true}
			switch pp {
			case "v1":
				a.ProxyProtocol = proxy.ProxyV1
			case "v2":
				a.ProxyProtocol = proxy.ProxyV2
			case "simple":
				a.ProxyProtocol = proxy.ProxySimple
			}
			apps = append(apps, a)
			if _, err := p.Listen(ctx, spec.t, port); err != nil {
				return err
			}
		}
	}
	p.Store(&proxy.Config{
		Table: proxy.StaticTable{{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Apps: apps}},
		Firewall: proxy.Rules([]proxy.AccessRule{
			{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Action: proxy.Block},
			{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Action: proxy.Challenge},
			{Prefix: netip.MustParsePrefix("127.0.0.99/32"), Action: proxy.Block},
		}),
	})
	log.Info("serving", "apps", len(apps))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	p.Shutdown(sctx)
	return nil
}

// load runs one load against a port: conn (connection rate), ping (64 B
// ping-pong latency) or udp (blast to port, sink on 127.0.0.1:6001).
func load(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	kind := fs.String("kind", "conn", "conn|ping|udp")
	port := fs.Int("port", 8002, "target port on 127.0.0.1")
	clients := fs.Int("c", 32, "concurrent clients (conn)")
	size := fs.Int("s", 64, "datagram size (udp)")
	dur := fs.Duration("d", 4*time.Second, "duration")
	fs.Parse(args)
	switch *kind {
	case "conn":
		n, p50, p99, errs := connRate(ctx, *port, *clients, *dur)
		fmt.Printf("conn/s %.0f p50 %.2fms p99 %.2fms errors %d\n", float64(n)/dur.Seconds(), p50, p99, errs)
	case "ping":
		p50, p99, err := pingPong(ctx, *port, 64, *dur)
		if err != nil {
			return err
		}
		fmt.Printf("rtt p50 %.0fus p99 %.0fus\n", p50, p99)
	case "udp":
		pps, n, err := udpRun(ctx, *port, *size, *dur)
		if err != nil {
			return err
		}
		fmt.Printf("udp %d B: %.0f pps (%d received)\n", *size, pps, n)
	default:
		return fmt.Errorf("unknown load %q", *kind)
	}
	return nil
}
