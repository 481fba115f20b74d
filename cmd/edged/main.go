// Command edged runs an edgesim edge: the Cloudflare-compatible addressing
// API on a persistent state, with validation against lab registries.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/node"
)

const usage = `usage: edged [flags]
       edged -check CONFIG

edged runs an edgesim edge: the Cloudflare-compatible addressing and Spectrum
API under http://LISTEN/client/v4/ (and /admin/v1/ for lab controls) on a
state file that survives restarts, an authoritative DNS responder for the
zones it knows (listen.dns), and, when bgp.peers are configured, a BGP
speaker announcing the advertised prefixes. Without -config it runs the embedded demo config
(two accounts, a zone each, lab timing) and writes the demo registry files
(var/demo/irr.rpsl, var/demo/roas.json) when they are missing.

Flags:
`

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("edged", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "YAML config `file` (default: the embedded demo config)")
	check := fs.String("check", "", "validate the config `file`, print every problem, and exit")
	listen := fs.String("listen", "", "override listen.api (`ip:port`)")
	dnsAddr := fs.String("dns", "", "override listen.dns, the DNS responder (`ip:port`; \"off\" disables it)")
	state := fs.String("state", "", "override state.path (`file`)")
	listenFD := fs.Int("listen-fd", 0, "serve the API on the inherited listening TCP socket `fd` (e.g. 3) instead of\nlisten.api: socket activation; edgectl lab uses it so that the API listens in\nthe host namespace while edged runs in the edge namespace")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	printDemo := fs.Bool("print-demo-config", false, "print the embedded demo config and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "edged: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *printDemo {
		os.Stdout.Write(config.DemoYAML())
		return 0
	}
	if *check != "" {
		if _, err := loadConfig(*check); err != nil {
			fmt.Fprintf(os.Stderr, "edged: %s is invalid:\n%v\n", *check, err)
			return 1
		}
		fmt.Printf("%s: ok\n", *check)
		return 0
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "edged: bad -log-level %q: want debug, info, warn or error\n", *level)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	var d *config.Daemon
	if *cfgPath == "" {
		d = config.Demo()
		if err := writeDemoFiles(); err != nil {
			log.Error("writing demo registry files", "err", err)
			return 1
		}
		log.Info("using the embedded demo config (edged -print-demo-config shows it)")
	} else {
		var err error
		if d, err = loadConfig(*cfgPath); err != nil {
			fmt.Fprintf(os.Stderr, "edged: %s is invalid:\n%v\n", *cfgPath, err)
			return 1
		}
	}
	if *listen != "" {
		d.Listen.API = *listen
	}
	switch *dnsAddr {
	case "":
	case "off":
		d.Listen.DNS = ""
	default:
		d.Listen.DNS = *dnsAddr
	}
	if *state != "" {
		d.State.Path = *state
	}
	if err := d.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "edged: invalid settings:\n%v\n", err)
		return 1
	}

	var ln net.Listener
	if *listenFD != 0 {
		var err error
		if ln, err = inheritedListener(*listenFD); err != nil {
			fmt.Fprintf(os.Stderr, "edged: -listen-fd %d: %v\n", *listenFD, err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := node.Run(ctx, node.Options{Daemon: d, Logger: log, Listener: ln}); err != nil {
		log.Error("edged stopped", "err", err)
		return 1
	}
	log.Info("edged stopped")
	return 0
}

// inheritedListener returns the listening TCP socket inherited as fd.
func inheritedListener(fd int) (net.Listener, error) {
	if fd < 3 {
		return nil, errors.New("want an inherited descriptor (3 or more)")
	}
	f := os.NewFile(uintptr(fd), "listen-fd")
	defer f.Close() // FileListener dups it
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("not a listening socket: %w", err)
	}
	if _, ok := ln.(*net.TCPListener); !ok {
		ln.Close()
		return nil, errors.New("not a TCP listener")
	}
	return ln, nil
}

func loadConfig(path string) (*config.Daemon, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return config.Decode(f)
}
