package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The measurement host's hard fd limit is 20000 and root lacks
// CAP_SYS_RESOURCE, so maxconn stays below it.
const haproxyCfg = `global
  maxconn 7800
  ulimit-n 20000
  nbthread 2
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  option splice-request
  option splice-response
frontend iperf
  bind 127.0.0.1:7001
  default_backend iperf
backend iperf
  server s 127.0.0.1:5201
frontend http
  bind 127.0.0.1:7002
  default_backend http
backend http
  server s 127.0.0.1:9000 send-proxy-v2
frontend echo
  bind 127.0.0.1:7003
  default_backend echo
backend echo
  server s 127.0.0.1:9001 send-proxy-v2
`

// target is one way to reach the origins.
type target struct {
	name                  string
	iperf, http, echo     int // ports
	pid                   int // proxy process, 0 for direct
	udpOff, udpSPP, udpV2 int
}

type sample struct {
	vals map[string][]float64
}

func (s *sample) add(k string, v float64) { s.vals[k] = append(s.vals[k], v) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// cpuTicks returns utime+stime of pid in clock ticks (100/s).
func cpuTicks(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return u + st
}

func procStatus(pid int) (rssKB float64, fds int) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			rssKB, _ = strconv.ParseFloat(strings.Fields(v)[0], 64)
		}
	}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return rssKB, len(ents)
}

type procs struct {
	mu   sync.Mutex
	cmds []*exec.Cmd
}

func (p *procs) start(name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p.mu.Lock()
	p.cmds = append(p.cmds, cmd)
	p.mu.Unlock()
	return cmd, nil
}

// stopAll stops every started process by PID: SIGTERM, then SIGKILL.
func (p *procs) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cmds {
		c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
}

func waitPort(port int) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("port %d not listening after 10s", port)
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	rounds := fs.Int("rounds", 3, "interleaved rounds (medians reported)")
	dur := fs.Duration("dur", 4*time.Second, "duration of each timed run")
	idleN := fs.Int("idle", 7500, "idle connections held per proxy (0 skips; the fd hard limit here is 20000)")
	clients := fs.Int("clients", 32, "concurrent clients in the connection-rate test")
	only := fs.String("only", "tcp,conn,ping,udp,idle", "tests to run")
	fs.Parse(args)
	raiseNofile(1 << 17)
	for _, b := range []string{"iperf3", "haproxy"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("finding %s: %w (run scripts/deps.sh as root)", b, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "edgesim-proxybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var ps procs
	defer ps.stopAll()

	if _, err := ps.start("iperf3", "-s", "-B", "127.0.0.1", "-p", "5201"); err != nil {
		return err
	}
	if _, err := ps.start(self, "origin", "-http", "127.0.0.1:9000", "-echo", "127.0.0.1:9001"); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	os.WriteFile(cfg, []byte(haproxyCfg), 0o644)
	hp, err := ps.start("haproxy", "-db", "-f", cfg)
	if err != nil {
		return err
	}
	es, err := ps.start(self, "serve",
		"-tcp", "8001=127.0.0.1:5201/off,8002=127.0.0.1:9000/v2,8003=127.0.0.1:9001/v2",
		"-udp", "8301=127.0.0.1:6001/off,8302=127.0.0.1:6001/simple,8303=127.0.0.1:6001/v2")
	if err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond) // iperf3 -s: a bare connect would count as a failed test
	for _, port := range []int{9000, 9001, 7001, 7002, 7003, 8001, 8002, 8003} {
		if err := waitPort(port); err != nil {
			return err
		}
	}
	targets := []target{
		{name: "direct", iperf: 5201, http: 9000, echo: 9001},
		{name: "haproxy", iperf: 7001, http: 7002, echo: 7003, pid: hp.Process.Pid},
		{name: "edgesim", iperf: 8001, http: 8002, echo: 8003, pid: es.Process.Pid, udpOff: 8301, udpSPP: 8302, udpV2: 8303},
	}
	res := map[string]*sample{}
	for _, t := range targets {
		res[t.name] = &sample{vals: map[string][]float64{}}
	}
	want := func(s string) bool { return strings.Contains(*only, s) }
	for r := range *rounds {
		order := slices.Clone(targets)
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, t := range order {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s := res[t.name]
			if want("tcp") {
				for _, par := range []int{1, 8} {
					c0 := cpuTicks(t.pid)
					bps, bytes, err := iperf(ctx, t.iperf, par, *dur)
					if err != nil {
						fmt.Fprintf(os.Stderr, "round %d %s iperf -P%d: %v\n", r, t.name, par, err)
						continue
					}
					cpu := (cpuTicks(t.pid) - c0) / 100
					s.add(fmt.Sprintf("gbps_P%d", par), bps/1e9)
					if t.pid != 0 {
						s.add(fmt.Sprintf("cpu_s_per_GB_P%d", par), cpu/(bytes/1e9))
					}
					fmt.Fprintf(os.Stderr, "round %d %-8s iperf -P%d %.2f Gbit/s cpu %.2fs\n", r, t.name, par, bps/1e9, cpu)
				}
			}
			if want("conn") {
				c0 := cpuTicks(t.pid)
				n, p50, p99, errs := connRate(ctx, t.http, *clients, *dur)
				cpu := (cpuTicks(t.pid) - c0) / 100
				s.add("conn_per_s", float64(n)/dur.Seconds())
				s.add("conn_p50_ms", p50)
				s.add("conn_p99_ms", p99)
				if t.pid != 0 && n > 0 {
					s.add("cpu_us_per_conn", cpu*1e6/float64(n))
				}
				fmt.Fprintf(os.Stderr, "round %d %-8s conn %.0f/s p50 %.2fms p99 %.2fms errors %d\n", r, t.name, float64(n)/dur.Seconds(), p50, p99, errs)
			}
			if want("ping") {
				p50, p99, err := pingPong(ctx, t.echo, 64, *dur)
				if err != nil {
					fmt.Fprintf(os.Stderr, "round %d %s ping: %v\n", r, t.name, err)
				} else {
					s.add("rtt_p50_us", p50)
					s.add("rtt_p99_us", p99)
					fmt.Fprintf(os.Stderr, "round %d %-8s ping p50 %.0fus p99 %.0fus\n", r, t.name, p50, p99)
				}
			}
		}
		if want("udp") {
			// UDP: direct, edgesim off, SPP, v2; HAProxy 2.6 has no UDP.
			type ut struct {
				name string
				port int
			}
			uts := []ut{{"direct", 6001}, {"edgesim", 8301}, {"edgesim_spp", 8302}, {"edgesim_v2", 8303}}
			rand.Shuffle(len(uts), func(i, j int) { uts[i], uts[j] = uts[j], uts[i] })
			for _, u := range uts {
				for _, size := range []int{64, 1400} {
					c0 := cpuTicks(es.Process.Pid)
					pps, got, err := udpRun(ctx, u.port, size, *dur)
					cpu := (cpuTicks(es.Process.Pid) - c0) / 100
					if err != nil {
						fmt.Fprintf(os.Stderr, "udp %s: %v\n", u.name, err)
						continue
					}
					key := fmt.Sprintf("udp_pps_%d", size)
					tn := "direct"
					if u.name != "direct" {
						tn = "edgesim"
						key = strings.Replace(key, "udp_", "udp"+strings.TrimPrefix(u.name, "edgesim")+"_", 1)
						if got > 0 {
							res[tn].add(strings.Replace(key, "pps", "cpu_us_per_dgram", 1), cpu*1e6/float64(got))
						}
					}
					res[tn].add(key, pps)
					fmt.Fprintf(os.Stderr, "round %d udp %-12s %4dB %.0f pps (cpu %.2fs)\n", r, u.name, size, pps, cpu)
				}
			}
		}
	}
	if want("idle") && *idleN > 0 {
		for _, t := range targets[1:] {
			rss, fds, err := idleCost(ctx, t.echo, t.pid, *idleN)
			if err != nil {
				fmt.Fprintf(os.Stderr, "idle %s: %v\n", t.name, err)
				continue
			}
			res[t.name].add("idle_rss_KB_per_conn", rss)
			res[t.name].add("idle_fds_per_conn", fds)
			fmt.Fprintf(os.Stderr, "idle %-8s %d conns: %.2f KB RSS/conn, %.2f fds/conn\n", t.name, *idleN, rss, fds)
		}
	}
	report(res)
	return nil
}

func report(res map[string]*sample) {
	keys := map[string]bool{}
	for _, s := range res {
		for k := range s.vals {
			keys[k] = true
		}
	}
	ks := slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	})
	fmt.Printf("| metric (median) | direct | haproxy (splice) | edgesim | edgesim / haproxy | edgesim / direct |\n|---|---|---|---|---|---|\n")
	for _, k := range ks {
		d, h, e := median(res["direct"].vals[k]), median(res["haproxy"].vals[k]), median(res["edgesim"].vals[k])
		ratio := func(a, b float64) string {
			if a == 0 || b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f×", a/b)
		}
		cell := func(v float64) string {
			if v == 0 {
				return "–"
			}
			return strconv.FormatFloat(v, 'g', 4, 64)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", k, cell(d), cell(h), cell(e), ratio(e, h), ratio(e, d))
	}
}

func iperf(ctx context.Context, port, par int, dur time.Duration) (bps, bytes float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, dur+20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "iperf3", "-c", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", strconv.Itoa(int(dur.Seconds())), "-O", "1", "-P", strconv.Itoa(par), "-J").Output()
	if err != nil {
		return 0, 0, fmt.Errorf("running iperf3: %w: %s", err, lastLine(out))
	}
	var j struct {
		End struct {
			SumReceived struct {
				BPS   float64 `json:"bits_per_second"`
				Bytes float64 `json:"bytes"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &j); err != nil {
		return 0, 0, err
	}
	return j.End.SumReceived.BPS, j.End.SumReceived.Bytes, nil
}

func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return string(b[i+1:])
	}
	return string(b)
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(float64(len(v))*p))]
}

// connRate: clients loop dial -> short request -> read to EOF -> close.
func connRate(ctx context.Context, port, clients int, dur time.Duration) (n int64, p50, p99 float64, errs int64) {
	var (
		count, nerr atomic.Int64
		mu          sync.Mutex
		lat         []float64
		wg          sync.WaitGroup
	)
	end := time.Now().Add(dur)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	req := []byte("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")
	for range clients {
		wg.Go(func() {
			var my []float64
			buf := make([]byte, 256)
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					nerr.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(3 * time.Second))
				_, err = c.Write(req)
				for err == nil {
					_, err = c.Read(buf)
				}
				c.Close()
				if !errors.Is(err, io.EOF) {
					nerr.Add(1)
					continue
				}
				count.Add(1)
				my = append(my, float64(time.Since(t0).Microseconds())/1000)
			}
			mu.Lock()
			lat = append(lat, my...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return count.Load(), pct(lat, 0.5), pct(lat, 0.99), nerr.Load()
}

// pingPong: one connection, 64-byte write then read of 64 bytes.
func pingPong(ctx context.Context, port, size int, dur time.Duration) (p50, p99 float64, err error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(dur + 5*time.Second))
	b := make([]byte, size)
	var lat []float64
	for end := time.Now().Add(dur); time.Now().Before(end) && ctx.Err() == nil; {
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return 0, 0, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return 0, 0, err
		}
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1000)
	}
	return pct(lat, 0.5), pct(lat, 0.99), nil
}

// udpRun blasts size-byte datagrams at port from one socket for dur and
// counts what a sink on 127.0.0.1:6001 receives.
func udpRun(ctx context.Context, port, size int, dur time.Duration) (pps float64, got int64, err error) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6001})
	if err != nil {
		return 0, 0, err
	}
	sink.SetReadBuffer(4 << 20)
	var (
		n           atomic.Int64
		first, last atomic.Int64
		wg          sync.WaitGroup
	)
	wg.Go(func() {
		b := make([]byte, 65536)
		for {
			if _, err := sink.Read(b); err != nil {
				return
			}
			now := time.Now().UnixNano()
			if n.Add(1) == 1 {
				first.Store(now)
			}
			last.Store(now)
		}
	})
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		sink.Close()
		return 0, 0, err
	}
	b := make([]byte, size)
	for end := time.Now().Add(dur); time.Now().Before(end) && ctx.Err() == nil; {
		for range 64 {
			c.Write(b)
		}
	}
	c.Close()
	time.Sleep(300 * time.Millisecond)
	sink.Close()
	wg.Wait()
	got = n.Load()
	if got < 2 {
		return 0, got, fmt.Errorf("sink received %d datagrams", got)
	}
	return float64(got-1) / (float64(last.Load()-first.Load()) / 1e9), got, nil
}

// idleCost opens n connections through the proxy on port, moves one byte
// each way on each, and reports the proxy's RSS and fd growth per
// connection while they sit idle.
func idleCost(ctx context.Context, port, pid, n int) (rssKB, fds float64, err error) {
	time.Sleep(2 * time.Second) // let earlier connections drain
	r0, f0 := procStatus(pid)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	b := []byte{'x'}
	deadline := time.Now().Add(120 * time.Second)
	for i := 0; i < n; i++ {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("opened only %d connections", i)
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return 0, 0, fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(b); err != nil {
			return 0, 0, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return 0, 0, fmt.Errorf("echo on connection %d: %w", i, err)
		}
	}
	time.Sleep(2 * time.Second)
	r1, f1 := procStatus(pid)
	return (r1 - r0) / float64(n), float64(f1-f0) / float64(n), nil
}
