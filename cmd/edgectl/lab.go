package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/edgesim/edgesim/netlab"
	"github.com/edgesim/edgesim/netlab/edgelab"
)

const labUsage = `usage: edgectl lab up [-d] [-dir DIR] [-edged FILE]
       edgectl lab down [-wipe] [-dir DIR]
       edgectl lab status [-dir DIR]

The lab puts edged on the wire in network namespaces (needs root):

  client ── peer (FRR, AS65001) ── edge (edged, AS13335) ── origin

edged runs in "edge" (BGP speaker, Spectrum proxy on AnyIP routes, DNS) with
its API in the host namespace at -api; FRR in "peer" installs what edged
announces; "origin" runs demo services (tcp/22 prints the PROXY header it
received, udp/7 echoes SPP). up loads the demo state (a validated, delegated,
bound and advertised prefix with Spectrum apps) unless the kept state has it,
prints what to try and runs until Ctrl-C (or in the background with -d), then
tears everything down. State and logs stay in -dir.

  up      build the lab and load the demo; -d returns once it is up
  down    stop a lab started with -d (or remove what a killed one left);
          -wipe also deletes the kept state, so the next up starts over
  status  namespaces, the keeper process, edged's API and both BGP views
`

// runLab runs `edgectl lab …`; api is the -api URL.
func runLab(args []string, api, out string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, labUsage)
		return 2
	}
	fs := flag.NewFlagSet("edgectl lab "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, labUsage); fs.PrintDefaults() }
	dir := fs.String("dir", "var/lab", "lab `directory`: edged's config, state and log, the registry files, FRR's sockets")
	var detach, wipe *bool
	var edged *string
	var tcpAddr, udpAddr *string
	switch args[0] {
	case "up":
		detach = fs.Bool("d", false, "run in the background; `edgectl lab down` stops it")
		edged = fs.String("edged", defaultEdged(), "edged `binary`")
	case "down":
		wipe = fs.Bool("wipe", false, "also delete the kept state (edgesim.db, registry files)")
	case "status":
	case "origin": // the demo origin, started by up inside the origin namespace
		tcpAddr = fs.String("tcp", ":22", "TCP `address`")
		udpAddr = fs.String("udp", ":7", "UDP `address`")
	default:
		fmt.Fprintf(stderr, "edgectl: unknown lab command %q\n", args[0])
		fmt.Fprint(stderr, labUsage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edgectl: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	hostPort, err := apiHostPort(api)
	if err != nil {
		fmt.Fprintf(stderr, "edgectl: %v\n", err)
		return 2
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "edgectl: %v\n", err)
		return 1
	}
	switch args[0] {
	case "up":
		if *detach {
			err = labUpDetached(abs, hostPort, *edged, stdout)
		} else {
			err = labUp(abs, *edged, hostPort, stdout)
		}
	case "down":
		err = labDown(abs, *wipe, stdout)
	case "status":
		err = labStatus(abs, hostPort, out, stdout)
	case "origin":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		log := slog.New(slog.NewTextHandler(stdout, nil))
		err = edgelab.RunOrigin(ctx, *tcpAddr, *udpAddr, log)
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgectl lab %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// apiHostPort returns host:port of an http URL.
func apiHostPort(api string) (string, error) {
	u, err := url.Parse(api)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return "", fmt.Errorf("-api %q: the lab wants http://IP:PORT", api)
	}
	if _, err := netip.ParseAddrPort(u.Host); err != nil {
		return "", fmt.Errorf("-api %q: the lab wants http://IP:PORT", api)
	}
	return u.Host, nil
}

// defaultEdged is edged beside this edgectl (bin/ after make build).
func defaultEdged() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin/edged"
	}
	return filepath.Join(filepath.Dir(exe), "edged")
}

func readyFile(dir string) string { return filepath.Join(dir, "ready") }

// labUp brings the lab up, loads the demo, prints what to try and holds
// the lab until a signal (or edged's exit), then tears it down.
func labUp(dir, edged, api string, w io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root (network namespaces); without root, `make run` starts edged alone on loopback")
	}
	if _, err := os.Stat(edged); err != nil {
		return fmt.Errorf("edged binary: %w (run make build, or pass -edged)", err)
	}
	for _, n := range edgelab.Namespaces {
		if netlab.NetnsExists(n) {
			return fmt.Errorf("namespace %q exists (left by a lab that did not stop cleanly?); `edgectl lab down` removes it", n)
		}
	}
	self, err := prepareUp(dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(edgelab.PIDFile(dir), fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return err
	}
	defer os.Remove(edgelab.PIDFile(dir))
	defer os.Remove(readyFile(dir))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	upCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	lab, err := edgelab.Up(upCtx, edgelab.Options{
		Dir: dir, Plain: true, Edged: edged, Origin: []string{self, "lab", "origin"},
		API: api, Progress: w,
	})
	if err != nil {
		return err
	}
	defer lab.Close()
	demo := lab.NewDemo()
	if err := demo.Load(upCtx, w); err != nil {
		return err
	}
	if adv, err := demo.Advertised(upCtx); err != nil {
		return err
	} else if adv {
		fmt.Fprintf(w, "lab: waiting for the peer to hold %s\n", edgelab.DemoPrefix)
		if err := lab.WaitRoute(upCtx, edgelab.DemoPrefix, true); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "lab: %s is withdrawn in the kept state (the PATCH below with true advertises it again)\n", edgelab.DemoPrefix)
	}
	hints := lab.Hints(demo)
	fmt.Fprintf(w, "\n%s\nCtrl-C (or `edgectl lab down`) tears the lab down.\n", hints)
	if err := os.WriteFile(readyFile(dir), []byte(hints), 0o644); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(w)
		return nil
	case <-lab.EdgedDone():
		return fmt.Errorf("edged exited; see %s", filepath.Join(dir, "edged.log"))
	}
}

// prepareUp checks that no lab keeper runs for dir, creates dir, clears
// its ready marker and returns this program's path (the keeper and the
// origin run it again).
func prepareUp(dir string) (string, error) {
	if pid := edgelab.KeeperPID(dir); pid != 0 {
		return "", fmt.Errorf("a lab is already up (edgectl pid %d); `edgectl lab down` stops it", pid)
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	os.Remove(readyFile(dir))
	return self, nil
}

// labUpDetached runs `edgectl lab up` (without -d) in the background, in
// its own session with its output in DIR/lab.log, and returns once the lab
// is up or the background run failed.
func labUpDetached(dir, api, edged string, w io.Writer) error {
	self, err := prepareUp(dir)
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "lab.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command(self, "-api", "http://"+api, "lab", "up", "-dir", dir, "-edged", edged)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(w, "lab: starting in the background (pid %d, log %s)\n", cmd.Process.Pid, logPath)
	deadline := time.After(4 * time.Minute)
	for {
		if b, err := os.ReadFile(readyFile(dir)); err == nil {
			fmt.Fprintf(w, "\n%s\n`edgectl lab down` tears the lab down.\n", b)
			return nil
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("the background lab stopped (%v):\n%s", err, log)
		case <-deadline:
			return fmt.Errorf("the lab is not up after 4 minutes; see %s", logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// labDown stops the lab's keeper and removes whatever is left.
func labDown(dir string, wipe bool, w io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	if pid := edgelab.KeeperPID(dir); pid != 0 {
		fmt.Fprintf(w, "lab: stopping the lab (edgectl pid %d)\n", pid)
		syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; edgelab.KeeperPID(dir) != 0; i++ {
			if i == 300 {
				fmt.Fprintf(w, "lab: pid %d did not stop in 30s; killing it\n", pid)
				syscall.Kill(pid, syscall.SIGKILL)
				os.Remove(edgelab.PIDFile(dir))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var left []string
	for _, n := range edgelab.Namespaces {
		if netlab.NetnsExists(n) {
			left = append(left, n)
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(w, "lab: removing namespaces %s and the processes in them\n", strings.Join(left, ", "))
		if err := netlab.RemoveNetns(left...); err != nil {
			return err
		}
	}
	if wipe {
		for _, p := range []string{"edgesim.db", "registry"} {
			if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "lab: wiped the state in %s\n", dir)
	}
	fmt.Fprintln(w, "lab: down")
	return nil
}

func labStatus(dir, api, out string, w io.Writer) error {
	s := edgelab.GetStatus(context.Background(), dir, api)
	if out == "json" {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	up := "down"
	if s.Up() {
		up = "up"
	}
	keeper := "none"
	if s.KeeperPID != 0 {
		keeper = fmt.Sprintf("pid %d", s.KeeperPID)
	}
	fmt.Fprintf(tw, "lab\t%s (dir %s, edgectl %s)\n", up, s.Dir, keeper)
	for _, n := range edgelab.Namespaces {
		state := "missing"
		if s.Namespaces[n] {
			state = "present"
		}
		fmt.Fprintf(tw, "netns %s\t%s\n", n, state)
	}
	fmt.Fprintf(tw, "edged api\t%s (%s)\n", s.API, map[bool]string{true: "answering", false: "not answering"}[s.APIUp])
	if !s.Up() && s.KeeperPID == 0 && !slices.Contains(slices.Collect(maps.Values(s.Namespaces)), true) {
		fmt.Fprintf(tw, "\nno lab is running (`edgectl lab up`, or `make run` as root, starts one)\n")
		return tw.Flush()
	}
	fmt.Fprintf(tw, "\nVIEW\tNEIGHBOR\tSTATE\tPREFIXES\n")
	for _, p := range s.EdgedPeers {
		fmt.Fprintf(tw, "edged\t%s\t%s\t%d sent\n", p.Neighbor, p.State, p.Prefixes)
	}
	for _, p := range s.FRRPeers {
		fmt.Fprintf(tw, "frr (peer)\t%s\t%s\t%d received\n", p.Neighbor, p.State, p.Prefixes)
	}
	for _, e := range s.Error {
		fmt.Fprintf(tw, "\n%s", e)
	}
	if len(s.Error) > 0 {
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
