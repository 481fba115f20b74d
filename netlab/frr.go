package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FRRBinDir is where Debian's frr package installs its daemons.
var FRRBinDir = "/usr/lib/frr"

// FRR is an FRR instance (bgpd, optionally zebra) running in a namespace
// with its own runtime directory, so several run at once and none talks to
// a system FRR. bgpd runs with -S (stays root): no frr user or vty group
// setup is needed.
type FRR struct {
	Dir   string
	ns    *Netns
	lab   *Lab
	zebra bool
	procs []*Proc
}

// StartFRR writes conf to <lab dir>/<name>/frr.conf and starts bgpd in ns
// (alone with -Z -n, or after zebra when withZebra is set), waiting until
// its vty socket answers.
func (l *Lab) StartFRR(ctx context.Context, ns *Netns, name, conf string, withZebra bool) (*FRR, error) {
	dir := filepath.Join(l.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating frr dir %q: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "frr.conf"), []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("writing frr config: %w", err)
	}
	f := &FRR{Dir: dir, ns: ns, lab: l, zebra: withZebra}
	return f, f.Start(ctx)
}

// Start (re)starts the daemons with the existing config; after Kill it
// brings a "restarted router" back.
func (f *FRR) Start(ctx context.Context) error {
	f.procs = nil
	common := []string{"--vty_socket", f.Dir, "-A", "127.0.0.1", "-P", "0", "--log", "file:" + filepath.Join(f.Dir, "daemons.log")}
	out := filepath.Join(f.Dir, "daemons.out")
	for _, s := range []string{"bgpd.vty", "zebra.vty", "zserv.api"} {
		_ = os.Remove(filepath.Join(f.Dir, s))
	}
	bgpdArgs := append([]string{"-S"}, common...)
	if f.zebra {
		zs := filepath.Join(f.Dir, "zserv.api")
		z, err := f.lab.start(f.ns, out, filepath.Join(FRRBinDir, "zebra"), append([]string{"-u", "root", "-g", "frrvty", "-z", zs, "-i", filepath.Join(f.Dir, "zebra.pid"), "-f", "/dev/null"}, common...)...)
		if err != nil {
			return err
		}
		f.procs = append(f.procs, z)
		if err := waitSocket(ctx, zs, z); err != nil {
			return fmt.Errorf("starting zebra: %w", err)
		}
		bgpdArgs = append(bgpdArgs, "-z", zs)
	} else {
		bgpdArgs = append(bgpdArgs, "-Z", "-n")
	}
	bgpdArgs = append(bgpdArgs, "-i", filepath.Join(f.Dir, "bgpd.pid"), "-f", filepath.Join(f.Dir, "frr.conf"))
	b, err := f.lab.start(f.ns, out, filepath.Join(FRRBinDir, "bgpd"), bgpdArgs...)
	if err != nil {
		return err
	}
	f.procs = append(f.procs, b)
	if err := waitSocket(ctx, filepath.Join(f.Dir, "bgpd.vty"), b); err != nil {
		log, _ := os.ReadFile(out)
		return fmt.Errorf("starting bgpd: %w: %s", err, log)
	}
	return nil
}

// Kill SIGKILLs the daemons (a crashed router).
func (f *FRR) Kill() {
	for _, p := range f.procs {
		p.Kill()
	}
}

// Vtysh runs vtysh commands against this instance.
func (f *FRR) Vtysh(ctx context.Context, cmds ...string) ([]byte, error) {
	args := []string{"--vty_socket", f.Dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	return run(ctx, "vtysh", args...)
}

// JSON runs one "… json" show command and decodes its output into v.
func (f *FRR) JSON(ctx context.Context, cmd string, v any) error {
	out, err := exec.CommandContext(ctx, "vtysh", "--vty_socket", f.Dir, "-c", cmd).Output()
	if err != nil {
		return fmt.Errorf("running vtysh %q: %w", cmd, err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("decoding vtysh %q output: %w: %.200s", cmd, err, out)
	}
	return nil
}

// NeighborState returns FRR's bgpState for neighbor ("Established", …).
func (f *FRR) NeighborState(ctx context.Context, neighbor netip.Addr) (string, error) {
	var m map[string]struct {
		BGPState string `json:"bgpState"`
	}
	if err := f.JSON(ctx, "show bgp neighbors "+neighbor.String()+" json", &m); err != nil {
		return "", err
	}
	return m[neighbor.String()].BGPState, nil
}

// WaitEstablished polls until FRR's session to neighbor is Established.
func (f *FRR) WaitEstablished(ctx context.Context, neighbor netip.Addr) error {
	return Poll(ctx, "frr session to "+neighbor.String(), func() (bool, error) {
		st, err := f.NeighborState(ctx, neighbor)
		return st == "Established", err
	})
}

// PfxRcd sums pfxRcd over the neighbors of afi ("ipv4" or "ipv6").
func (f *FRR) PfxRcd(ctx context.Context, afi string) (int, error) {
	var sum struct {
		Peers map[string]struct {
			PfxRcd int `json:"pfxRcd"`
		} `json:"peers"`
	}
	if err := f.JSON(ctx, "show bgp "+afi+" unicast summary json", &sum); err != nil {
		return 0, err
	}
	n := 0
	for _, p := range sum.Peers {
		n += p.PfxRcd
	}
	return n, nil
}

// FRRRoute is one path of `show bgp <afi> unicast <prefix> json`.
type FRRRoute struct {
	ASPath           string
	Communities      string
	LargeCommunities string
	NextHops         []string
}

// Route returns FRR's paths for p (nil when FRR has none).
func (f *FRR) Route(ctx context.Context, p netip.Prefix) ([]FRRRoute, error) {
	afi := "ipv4"
	if p.Addr().Is6() {
		afi = "ipv6"
	}
	var r struct {
		Paths []struct {
			ASPath struct {
				String string `json:"string"`
			} `json:"aspath"`
			Community struct {
				String string `json:"string"`
			} `json:"community"`
			LargeCommunity struct {
				String string `json:"string"`
			} `json:"largeCommunity"`
			Nexthops []struct {
				IP string `json:"ip"`
			} `json:"nexthops"`
		} `json:"paths"`
	}
	if err := f.JSON(ctx, fmt.Sprintf("show bgp %s unicast %s json", afi, p), &r); err != nil {
		return nil, err
	}
	var out []FRRRoute
	for _, x := range r.Paths {
		fr := FRRRoute{ASPath: x.ASPath.String, Communities: x.Community.String, LargeCommunities: x.LargeCommunity.String}
		for _, nh := range x.Nexthops {
			fr.NextHops = append(fr.NextHops, nh.IP)
		}
		out = append(out, fr)
	}
	return out, nil
}

// Poll calls cond every 50ms until it reports true, or ctx ends; the
// error then names what and carries cond's last error.
func Poll(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// BIRD is a BIRD 2 instance in a namespace with its own control socket.
type BIRD struct {
	Dir  string
	Sock string
	proc *Proc
}

// StartBIRD writes conf to <lab dir>/<name>/bird.conf, parse-checks it and
// starts bird in the foreground inside ns.
func (l *Lab) StartBIRD(ctx context.Context, ns *Netns, name, conf string) (*BIRD, error) {
	dir := filepath.Join(l.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating bird dir %q: %w", dir, err)
	}
	cf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("writing bird config: %w", err)
	}
	if _, err := run(ctx, "bird", "-p", "-c", cf); err != nil {
		return nil, err
	}
	b := &BIRD{Dir: dir, Sock: filepath.Join(dir, "bird.ctl")}
	p, err := l.start(ns, filepath.Join(dir, "bird.out"), "bird", "-f", "-c", cf, "-s", b.Sock, "-P", filepath.Join(dir, "bird.pid"))
	if err != nil {
		return nil, err
	}
	b.proc = p
	return b, waitSocket(ctx, b.Sock, p)
}

// Cmd runs a birdc command.
func (b *BIRD) Cmd(ctx context.Context, args ...string) (string, error) {
	out, err := run(ctx, "birdc", append([]string{"-s", b.Sock}, args...)...)
	return string(out), err
}

// WaitEstablished polls until protocol proto is Established.
func (b *BIRD) WaitEstablished(ctx context.Context, proto string) error {
	return Poll(ctx, "bird protocol "+proto, func() (bool, error) {
		out, err := b.Cmd(ctx, "show", "protocols", proto)
		return strings.Contains(out, "Established"), err
	})
}

// Imported returns the "Routes: N imported" count of protocol proto.
func (b *BIRD) Imported(ctx context.Context, proto string) (int, error) {
	out, err := b.Cmd(ctx, "show", "protocols", "all", proto)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		var n int
		if _, err := fmt.Sscanf(l, "Routes: %d imported", &n); err == nil {
			return n, nil
		}
	}
	return 0, nil
}
