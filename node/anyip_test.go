package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/internal/anyip"
	"github.com/edgesim/edgesim/internal/netnstest"
	"github.com/edgesim/edgesim/netlab"
)

// announcing returns a snapshot of generation gen announcing cidrs.
func announcing(t *testing.T, gen uint64, cidrs ...string) *config.Snapshot {
	t.Helper()
	st := config.NewState()
	for i, c := range cidrs {
		p := netip.MustParsePrefix(c)
		id := fmt.Sprint(i)
		st.Prefixes["p"+id] = &config.Prefix{ID: "p" + id, AccountID: "acct", CIDR: p, Approved: true}
		st.Bindings["b"+id] = &config.Binding{ID: "b" + id, PrefixID: "p" + id, CIDR: p, ServiceID: config.Services()[1].ID}
		st.BGPPrefixes["g"+id] = &config.BGPPrefix{ID: "g" + id, PrefixID: "p" + id, CIDR: p, Advertised: true}
	}
	s, err := config.Compile(st, time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Announcements()) != len(cidrs) {
		t.Fatalf("snapshot announces %v, want %v", s.Announcements(), cidrs)
	}
	s.Generation = gen
	return s
}

// fakeRoutes records what an anyipNode asks of its table; Sync returns
// the queued errors first.
type fakeRoutes struct {
	mu    sync.Mutex
	calls []string
	syncs [][]netip.Prefix
	errs  []error
}

func (f *fakeRoutes) Sync(want []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "sync")
	f.syncs = append(f.syncs, slices.Clone(want))
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return err
	}
	return nil
}

func (f *fakeRoutes) Flush() error { f.record("flush"); return nil }
func (f *fakeRoutes) Close() error { f.record("close"); return nil }

func (f *fakeRoutes) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeRoutes) waitSyncs(t *testing.T, n int) [][]netip.Prefix {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		f.mu.Lock()
		syncs := slices.Clone(f.syncs)
		f.mu.Unlock()
		if len(syncs) >= n {
			return syncs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d syncs after 5s, want %d: %v", len(syncs), n, syncs)
		}
	}
}

// lockedBuffer is a log sink for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAnyIPFollowsSnapshots checks the route updater against a fake table:
// it syncs the pool plus the announced prefixes, retries failures, logs
// each distinct error once, skips a generation it synced, and flushes
// then closes the table on close.
func TestAnyIPFollowsSnapshots(t *testing.T) {
	t.Parallel()
	pool := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:ff::/48")}
	errA, errB := errors.New("anyip: a"), errors.New("anyip: b")
	f := &fakeRoutes{errs: []error{errA, errA, errB}}
	var logs lockedBuffer
	n := runAnyIP(f, pool, time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { n.close() })

	n.publish(announcing(t, 1, "203.0.113.0/24", "2001:db8:100::/48"))
	syncs := f.waitSyncs(t, 4) // three failures, then success
	want := append(slices.Clone(pool), netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:100::/48"))
	for i, s := range syncs {
		if !slices.Equal(s, want) {
			t.Errorf("sync %d = %v, want %v", i, s, want)
		}
	}
	n.publish(announcing(t, 2))
	syncs = f.waitSyncs(t, 5)
	if got := syncs[len(syncs)-1]; !slices.Equal(got, pool) {
		t.Errorf("sync without announcements = %v, want the pool %v", got, pool)
	}
	n.publish(announcing(t, 2)) // the generation just synced: skipped

	if err := n.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := n.close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	f.mu.Lock()
	calls := slices.Clone(f.calls)
	f.mu.Unlock()
	if want := []string{"sync", "sync", "sync", "sync", "sync", "flush", "close"}; !slices.Equal(calls, want) {
		t.Errorf("table calls = %v, want %v", calls, want)
	}
	out := logs.String()
	if c := strings.Count(out, `msg="syncing anyip routes; retrying"`); c != 2 {
		t.Errorf("%d sync errors logged, want 2 (one per distinct error):\n%s", c, out)
	}
	if !strings.Contains(out, `err="anyip: a"`) || !strings.Contains(out, `err="anyip: b"`) || !strings.Contains(out, "anyip routes synced after errors") {
		t.Errorf("log lacks an error or the recovery:\n%s", out)
	}
}

// TestNetnsAnyIPFollowsSnapshots runs the route updater on a real table in
// a throwaway namespace and checks the routes with ip(8).
func TestNetnsAnyIPFollowsSnapshots(t *testing.T) {
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		ns, err := lab.AddNetns("anyip")
		if err != nil {
			t.Fatal(err)
		}
		var tbl *anyip.Table
		netnstest.InNetns(t, ns.Name, func() { tbl, err = anyip.Open() })
		if err != nil {
			t.Fatal(err)
		}
		owned := func() []string {
			var out []string
			for _, fam := range []string{"-4", "-6"} {
				b, err := exec.Command("ip", "-n", ns.Name, fam, "route", "show", "table", "local", "proto", fmt.Sprint(anyip.Proto)).CombinedOutput()
				if err != nil {
					t.Fatalf("ip route show: %v\n%s", err, b)
				}
				for line := range strings.Lines(string(b)) {
					if f := strings.Fields(line); len(f) > 1 {
						out = append(out, f[1])
					}
				}
			}
			slices.Sort(out)
			return out
		}
		waitOwned := func(want ...string) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				got := owned()
				if slices.Equal(got, want) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("anyip routes = %q after 5s, want %q", got, want)
				}
			}
		}
		pool := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:ff::/48")}
		n := runAnyIP(tbl, pool, time.Second, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { n.close() })
		n.publish(announcing(t, 1, "203.0.113.0/24", "2001:db8:100::/48"))
		waitOwned("192.0.2.0/24", "2001:db8:100::/48", "2001:db8:ff::/48", "203.0.113.0/24")
		n.publish(announcing(t, 2, "198.51.100.0/24"))
		waitOwned("192.0.2.0/24", "198.51.100.0/24", "2001:db8:ff::/48")
		if err := n.close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		waitOwned()
	})
}

// TestNetnsRunKeepsAnyIPRoutes runs edged (node.Run with listen.anyip) on
// a thread inside a throwaway namespace, where Run opens its route table,
// and checks that the pool is local from the start, an advertised prefix
// becomes local and stops being so when withdrawn, and shutdown removes
// every route.
func TestNetnsRunKeepsAnyIPRoutes(t *testing.T) {
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		ns, err := lab.AddNetns("edged")
		if err != nil {
			t.Fatal(err)
		}
		owned := func() string {
			var out []string
			for _, fam := range []string{"-4", "-6"} {
				b, err := exec.Command("ip", "-n", ns.Name, fam, "route", "show", "table", "local", "proto", fmt.Sprint(anyip.Proto)).CombinedOutput()
				if err != nil {
					t.Fatalf("ip route show: %v\n%s", err, b)
				}
				for line := range strings.Lines(string(b)) {
					if f := strings.Fields(line); len(f) > 1 {
						out = append(out, f[1])
					}
				}
			}
			slices.Sort(out)
			return strings.Join(out, " ")
		}
		waitOwned := func(want string) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); owned() != want; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("anyip routes in %s = %q after 10s, want %q", ns.Name, owned(), want)
				}
			}
		}

		d := testDaemon(t, "listen: {anyip: true}\nanycast_pool: [\"192.0.2.0/24\"]\n")
		ln, err := net.Listen("tcp", "127.0.0.1:0") // in the test's namespace
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		ready := make(chan struct{})
		go netnstest.InNetns(t, ns.Name, func() {
			done <- Run(ctx, Options{Daemon: d, Listener: ln, Ready: func(net.Addr) { close(ready) }})
		})
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Run returned before ready: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("node not ready after 20s")
		}
		base := "http://" + ln.Addr().String()
		waitOwned("192.0.2.0/24")
		o := onboard(t, base, "203.0.113.0/24", 64496, "")
		o.patch(t, base, `{"on_demand":{"advertised":true}}`)
		waitOwned("192.0.2.0/24 203.0.113.0/24")
		o.patch(t, base, `{"on_demand":{"advertised":false}}`)
		waitOwned("192.0.2.0/24")
		o.patch(t, base, `{"on_demand":{"advertised":true}}`)
		waitOwned("192.0.2.0/24 203.0.113.0/24")

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return 20s after cancel")
		}
		if got := owned(); got != "" {
			t.Errorf("anyip routes after shutdown = %q, want none", got)
		}
	})
}
