package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// namePrefix starts every namespace and host interface a Lab creates; the
// runner's PID follows, so concurrent runs never collide and ReapStale can
// tell leftovers of dead runners.
const namePrefix = "el"

var (
	nsRE   = regexp.MustCompile(`^` + namePrefix + `(\d+)-\d+-[a-z0-9]+$`)
	linkRE = regexp.MustCompile(`^` + namePrefix + `(\d+)h\d+$`)
)

// Lab owns a set of network namespaces, veth links and daemons, and removes
// them all in Close. Methods are safe for concurrent use.
type Lab struct {
	// Dir holds the daemons' configs, sockets and logs.
	Dir string

	id    string // namePrefix + PID + "-" + lab sequence number
	plain bool   // namespaces carry their names as given (NewPlain)

	mu     sync.Mutex
	netns  []string
	links  []string // host-side interfaces
	procs  []*Proc
	nlinks int
	closed bool
}

// New reaps leftovers of dead runners and returns an empty lab whose files
// live in a new directory under dir (os.TempDir when empty). It needs root.
func New(dir string) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("netlab: needs root")
	}
	if err := ReapStale(); err != nil {
		return nil, err
	}
	d, err := os.MkdirTemp(dir, "netlab-")
	if err != nil {
		return nil, fmt.Errorf("creating lab dir: %w", err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		return nil, fmt.Errorf("chmod lab dir %q: %w", d, err)
	}
	return &Lab{Dir: d, id: fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), labSeq.Add(1))}, nil
}

// NewPlain returns an empty lab whose namespaces carry exactly the names
// given to AddNetns ("edge", "client", …), for a lab people type commands
// into, and whose files live in dir itself (created if missing). Only one
// plain lab with a given set of names can exist on a machine: AddNetns fails
// when the namespace exists, and RemoveNetns removes what a plain lab whose
// owner died left behind. Close keeps dir.
func NewPlain(dir string) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("netlab: needs root")
	}
	if err := ReapStale(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating lab dir: %w", err)
	}
	return &Lab{Dir: dir, plain: true, id: fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), labSeq.Add(1))}, nil
}

// RemoveNetns terminates the processes inside each named namespace (by
// PID: SIGTERM, then SIGKILL) and deletes it; missing namespaces are
// skipped.
func RemoveNetns(names ...string) error {
	var errs []error
	for _, ns := range names {
		if err := killNetns(ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NetnsExists reports whether a namespace called name exists.
func NetnsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

func ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := run(ctx, "ip", args...)
	return err
}

// Netns is a network namespace of a Lab.
type Netns struct {
	// Name is the full name, as `ip netns list` shows it.
	Name string
	lab  *Lab
}

var (
	labSeq  atomic.Int64 // labs of this process
	hostSeq atomic.Int64 // host interfaces of this process
)

var shortName = regexp.MustCompile(`^[a-z0-9]{1,12}$`)

// AddNetns creates namespace el<pid>-<lab>-<name> (just name in a plain
// lab) with lo up and IPv6 duplicate address detection off.
func (l *Lab) AddNetns(name string) (*Netns, error) {
	if !shortName.MatchString(name) {
		return nil, fmt.Errorf("creating netns %q: name must match %s", name, shortName)
	}
	full := l.id + "-" + name
	if l.plain {
		full = name
		if NetnsExists(full) {
			return nil, fmt.Errorf("creating netns %q: it exists (another lab is up; `edgectl lab down` removes it)", full)
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("netlab: lab closed")
	}
	l.mu.Unlock()
	if err := ip("netns", "add", full); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.netns = append(l.netns, full)
	l.mu.Unlock()
	n := &Netns{Name: full, lab: l}
	if err := ip("-n", full, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		if _, err := n.Exec(context.Background(), "sysctl", "-qw", k); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Exec runs a command inside the namespace and returns its combined output.
func (n *Netns) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// AddAnyIP adds an AnyIP local route for p on lo: the namespace then
// accepts traffic to every address of p.
func (n *Netns) AddAnyIP(p netip.Prefix) error {
	fam := "-4"
	if p.Addr().Is6() {
		fam = "-6"
	}
	return ip("-n", n.Name, fam, "route", "add", "local", p.Masked().String(), "dev", "lo")
}

// Link is a veth pair. A is the host side for LinkHost.
type Link struct {
	AIf, BIf     string
	A4, B4       netip.Prefix // addresses with the link's prefix length
	A6, B6       netip.Prefix
	aNetns, bNet string // "" = host namespace
}

// Subnet plan, documentation space only, clear of 198.51.100.0/24 (the
// demo anycast pool) and 203.0.113.0/24 (the demo customer prefix): host
// link i (1-31) gets 192.0.2.(128+4i)/30 and 2001:db8:ff00:i::/64;
// namespace-to-namespace link i (1-31) gets 192.0.2.4i/30 and
// 2001:db8:fe00:i::/64.
func linkAddrs(host bool, i int) (a4, b4, a6, b6 netip.Prefix) {
	base := netip.AddrFrom4([4]byte{192, 0, 2, byte(128 + 4*i)})
	v6 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0x00, byte(i >> 8), byte(i)}
	if !host {
		base = netip.AddrFrom4([4]byte{192, 0, 2, byte(4 * i)})
		v6[4], v6[5] = 0xfe, 0x00
	}
	a4 = netip.PrefixFrom(base.Next(), 30)
	b4 = netip.PrefixFrom(base.Next().Next(), 30)
	v6[15] = 1
	a6 = netip.PrefixFrom(netip.AddrFrom16(v6), 64)
	v6[15] = 2
	b6 = netip.PrefixFrom(netip.AddrFrom16(v6), 64)
	return
}

// hostSubnetLock serializes subnet choice between concurrent runners.
var hostSubnetLock sync.Mutex

// LinkHost connects the host namespace to ns with a veth pair and picks a
// /30 from 192.0.2.128/25 and a /64 from 2001:db8:ff00::/48 that no host
// interface uses yet (A = host side, .1 and ::1). Putting a process's own
// side in the host namespace lets an in-process speaker (GoBGP dials from
// its own goroutines) reach the namespace without switching namespaces.
func (l *Lab) LinkHost(ns *Netns) (*Link, error) {
	hostSubnetLock.Lock()
	defer hostSubnetLock.Unlock()
	f, err := os.OpenFile("/run/edgesim-netlab.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening subnet lock: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking subnet lock: %w", err)
	}
	out, err := run(context.Background(), "ip", "-o", "addr", "show")
	if err != nil {
		return nil, err
	}
	for i := 1; i < 32; i++ {
		a4, b4, a6, b6 := linkAddrs(true, i)
		if strings.Contains(string(out), " "+a4.String()+" ") || strings.Contains(string(out), " "+b4.String()+" ") {
			continue
		}
		return l.link(nil, ns, a4, b4, a6, b6)
	}
	return nil, errors.New("linking host: no free subnet in 192.0.2.128/25")
}

// LinkNetns connects two namespaces of the lab with a veth pair addressed
// from the lab's own subnet plan (namespace-local, so no host check).
func (l *Lab) LinkNetns(a, b *Netns) (*Link, error) {
	l.mu.Lock()
	i := 1 + l.nlinks%31
	l.mu.Unlock()
	a4, b4, a6, b6 := linkAddrs(false, i)
	return l.link(a, b, a4, b4, a6, b6)
}

func (l *Lab) link(a, b *Netns, a4, b4, a6, b6 netip.Prefix) (*Link, error) {
	l.mu.Lock()
	idx := l.nlinks
	l.nlinks++
	l.mu.Unlock()
	lk := &Link{AIf: fmt.Sprintf("%s%dh%d", namePrefix, os.Getpid(), hostSeq.Add(1)), BIf: fmt.Sprintf("veth%d", idx), A4: a4, B4: b4, A6: a6, B6: b6, bNet: b.Name}
	if len(lk.AIf) > 15 {
		return nil, fmt.Errorf("linking: interface name %q too long", lk.AIf)
	}
	args := []string{"link", "add", lk.AIf}
	if a != nil {
		lk.aNetns = a.Name
		lk.AIf = fmt.Sprintf("veth%d", idx)
		args = []string{"link", "add", lk.AIf + "a", "netns", a.Name}
		lk.AIf += "a"
	}
	args = append(args, "type", "veth", "peer", "name", lk.BIf, "netns", b.Name)
	if err := ip(args...); err != nil {
		return nil, err
	}
	if a == nil {
		l.mu.Lock()
		l.links = append(l.links, lk.AIf)
		l.mu.Unlock()
	}
	nsArgs := func(ns string, rest ...string) []string {
		if ns == "" {
			return rest
		}
		return append([]string{"-n", ns}, rest...)
	}
	steps := [][]string{
		nsArgs(lk.aNetns, "addr", "add", a4.String(), "dev", lk.AIf),
		nsArgs(lk.aNetns, "addr", "add", a6.String(), "dev", lk.AIf, "nodad"),
		nsArgs(lk.bNet, "addr", "add", b4.String(), "dev", lk.BIf),
		nsArgs(lk.bNet, "addr", "add", b6.String(), "dev", lk.BIf, "nodad"),
		nsArgs(lk.aNetns, "link", "set", lk.AIf, "up"),
		nsArgs(lk.bNet, "link", "set", lk.BIf, "up"),
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return nil, err
		}
	}
	return lk, nil
}

// Close stops every daemon (SIGTERM, then SIGKILL after 5s, by PID), kills
// whatever else runs in the lab's namespaces, deletes the namespaces and
// host links, and removes Dir unless keep is set (for logs after a
// failure). It is idempotent.
func (l *Lab) Close(keep bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := slices.Clone(l.procs)
	netns := slices.Clone(l.netns)
	links := slices.Clone(l.links)
	l.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if err := p.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range slices.Backward(netns) {
		if err := killNetns(ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, lk := range links {
		if err := ip("link", "del", lk); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	if !keep && !l.plain {
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing lab dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// killNetns terminates the processes inside ns (by PID), then deletes it.
// Deleting a namespace with processes inside only removes its name.
func killNetns(ns string) error {
	pids := func() []int {
		out, _ := run(context.Background(), "ip", "netns", "pids", ns)
		var l []int
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				l = append(l, pid)
			}
		}
		return l
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		ps := pids()
		if len(ps) == 0 {
			break
		}
		for _, pid := range ps {
			_ = syscall.Kill(pid, sig)
		}
		for range 50 {
			if len(pids()) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := ip("netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
		return err
	}
	return nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ReapStale removes namespaces and host links left by lab runners that are
// no longer running (killed tests).
func ReapStale() error {
	out, err := run(context.Background(), "ip", "netns", "list")
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := nsRE.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid != os.Getpid() && !alive(pid) {
			if err := killNetns(f[0]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	out, err = run(context.Background(), "ip", "-o", "link", "show")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		m := linkRE.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid != os.Getpid() && !alive(pid) {
			if err := ip("link", "del", name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Proc is a daemon started by the lab.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

func (l *Lab) start(ns *Netns, logFile, name string, args ...string) (*Proc, error) {
	return l.Start(ns, logFile, nil, name, args...)
}

// Start runs name with args inside ns (ip netns exec replaces itself with
// the daemon, so the PID is the daemon's), output appended to logFile, with
// files inherited as descriptors 3, 4, … The lab stops it in Close; it dies
// with the runner.
func (l *Lab) Start(ns *Netns, logFile string, files []*os.File, name string, args ...string) (*Proc, error) {
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log %q: %w", logFile, err)
	}
	defer lf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.ExtraFiles = files
	// Die with the runner; ReapStale handles the namespaces afterwards.
	// Own process group: a Ctrl-C at the terminal reaches the runner only,
	// which stops its daemons in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s in %s: %w", name, ns.Name, err)
	}
	p := &Proc{Name: filepath.Base(name), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// PID returns the daemon's process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM, waits up to 5s, then SIGKILL. It is idempotent.
func (p *Proc) Stop() error {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	})
	return nil
}

func waitSocket(ctx context.Context, path string, p *Proc) error {
	return p.Await(ctx, fmt.Sprintf("%q", path), func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Mode()&os.ModeSocket != 0
	})
}

// Await polls cond every 20ms until it holds; it fails when the process
// exits first or ctx ends. what names the awaited condition in errors.
func (p *Proc) Await(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		if p.Exited() {
			return fmt.Errorf("waiting for %s: %s exited", what, p.Name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
