package netlab_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/internal/netnstest"
	"github.com/edgesim/edgesim/netlab"
)

func TestNetnsLabFRRToBIRD(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "vtysh")
	netnstest.RequireBinary(t, "bird")
	netnstest.Run(t, func(t *testing.T, lab *netlab.Lab) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		a, err := lab.AddNetns("frr")
		if err != nil {
			t.Fatal(err)
		}
		b, err := lab.AddNetns("bird")
		if err != nil {
			t.Fatal(err)
		}
		lk, err := lab.LinkNetns(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddAnyIP(netip.MustParsePrefix("203.0.113.0/24")); err != nil {
			t.Fatal(err)
		}
		if out, err := b.Exec(ctx, "ip", "route", "show", "table", "local"); err != nil || !strings.Contains(string(out), "local 203.0.113.0/24 dev lo") {
			t.Fatalf("AnyIP route missing: %v\n%s", err, out)
		}
		if _, err := a.Exec(ctx, "ping", "-c1", "-W2", lk.B6.Addr().String()); err != nil {
			if _, lerr := exec.LookPath("ping"); lerr == nil {
				t.Fatalf("v6 link down: %v", err)
			}
		}
		frr, err := lab.StartFRR(ctx, a, "frr", fmt.Sprintf(`frr defaults traditional
log stdout errors
router bgp 65001
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor %s remote-as 65002
 neighbor %s timers 3 9
 neighbor %s timers connect 1
 address-family ipv4 unicast
  network 203.0.113.128/25
 exit-address-family
`, lk.A4.Addr(), lk.B4.Addr(), lk.B4.Addr(), lk.B4.Addr()), false)
		if err != nil {
			t.Fatal(err)
		}
		bird, err := lab.StartBIRD(ctx, b, "bird", fmt.Sprintf(`router id %s;
protocol device { }
protocol bgp frr {
  local %s as 65002; neighbor %s as 65001;
  hold time 9; keepalive time 3; connect retry time 1;
  ipv4 { import all; export none; };
}
`, lk.B4.Addr(), lk.B4.Addr(), lk.A4.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		if err := frr.WaitEstablished(ctx, lk.B4.Addr()); err != nil {
			t.Fatal(err)
		}
		if err := bird.WaitEstablished(ctx, "frr"); err != nil {
			t.Fatal(err)
		}
		for {
			if n, _ := bird.Imported(ctx, "frr"); n == 1 {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("BIRD never imported FRR's route")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestNetnsLabReapStale(t *testing.T) {
	netnstest.RequireRoot(t)
	// A name of a runner that cannot be alive (PIDs stay below 2^22).
	const stale = "el99999999-1-x"
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", stale).Run() })
	if err := netlab.ReapStale(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), stale) {
		t.Fatalf("stale netns %s survived ReapStale", stale)
	}
}

func TestNewNeedsRoot(t *testing.T) {
	lab, err := netlab.New("")
	if err == nil {
		lab.Close(false)
		t.Skip("running as root")
	}
}
