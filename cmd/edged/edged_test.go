package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildEdged compiles this command into a temporary directory.
func buildEdged(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edged")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

const testAccount = "258def64c72dae45f3e4c8516e2111f2"

func writeConfig(t *testing.T, dir, addr string) string {
	t.Helper()
	cfg := fmt.Sprintf(`version: 1
listen: {api: %q}
state: {path: %q}
accounts: [{id: %s, name: test}]
credentials: [{email: test@example.com, key: k, accounts: [%s]}]
validation: {auto_valid: true}
timing: {time_factor: 0}
`, addr, filepath.Join(dir, "state", "edgesim.db"), testAccount, testAccount)
	path := filepath.Join(dir, "edged.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startEdged starts edged and waits until its API answers.
func startEdged(t *testing.T, bin, cfg, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-config", cfg, "-log-level", "warn")
	cmd.Stderr = os.Stderr // warnings and errors only
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitAPI(t, addr)
	return cmd
}

// waitAPI waits until an API answers on addr.
func waitAPI(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := do("GET", addr, "/client/v4/accounts/"+testAccount+"/addressing/services", ""); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no API on %s within 20s", addr)
}

var client = &http.Client{Timeout: 10 * time.Second}

func do(method, addr, path, body string) (*http.Response, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Email", "test@example.com")
	req.Header.Set("X-Auth-Key", "k")
	req.Header.Set("Content-Type", "application/json")
	return client.Do(req)
}

type prefix struct {
	ID   string `json:"id"`
	CIDR string `json:"cidr"`
}

func listPrefixes(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp, err := do("GET", addr, "/client/v4/accounts/"+testAccount+"/addressing/prefixes", "")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Success bool     `json:"success"`
		Result  []prefix `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || !env.Success {
		t.Fatalf("listing prefixes: status %d, err %v", resp.StatusCode, err)
	}
	m := map[string]string{}
	for _, p := range env.Result {
		m[p.ID] = p.CIDR
	}
	return m
}

// TestKill9KeepsAcknowledgedWrites kills edged with SIGKILL while a client
// creates prefixes as fast as it can, restarts it on the same state file,
// and checks that every creation edged acknowledged (HTTP 200 with an ID) is
// there. Several rounds on the same file.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and kills the daemon (slow)")
	}
	bin := buildEdged(t)
	dir := t.TempDir()
	addr := freePort(t)
	cfg := writeConfig(t, dir, addr)

	acked := map[string]string{} // id -> cidr
	next := 0
	for round := range 4 {
		cmd := startEdged(t, bin, cfg, addr)
		got := listPrefixes(t, addr)
		for id, cidr := range acked {
			if got[id] != cidr {
				t.Fatalf("round %d: acknowledged prefix %s (%s) lost after kill -9; have %d of %d", round, id, cidr, len(got), len(acked))
			}
		}
		// Four writers in the background, so the kill lands in the middle
		// of writes; kill after a round-dependent number of acks.
		killAfter := 20 + 37*round
		acks := make(chan prefix)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := next + w; ; i += 4 {
					cidr := fmt.Sprintf("2001:db8:%x::/48", i)
					resp, err := do("POST", addr, "/client/v4/accounts/"+testAccount+"/addressing/prefixes", fmt.Sprintf(`{"cidr":%q,"asn":13335}`, cidr))
					if err != nil {
						return // killed
					}
					var env struct{ Result prefix }
					err = json.NewDecoder(resp.Body).Decode(&env)
					resp.Body.Close()
					if resp.StatusCode != 200 || err != nil {
						return
					}
					acks <- env.Result
				}
			})
		}
		go func() { wg.Wait(); close(acks) }()
		n := 0
		for p := range acks {
			acked[p.ID] = p.CIDR
			n++
			if n == killAfter {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		next += 4 * (n + 8)
		t.Logf("round %d: %d acknowledged writes before SIGKILL", round, n)
	}
	cmd := startEdged(t, bin, cfg, addr)
	got := listPrefixes(t, addr)
	for id, cidr := range acked {
		if got[id] != cidr {
			t.Fatalf("acknowledged prefix %s (%s) lost; have %d of %d", id, cidr, len(got), len(acked))
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("edged exit after SIGTERM: %v", err)
	}
}

func TestCheck(t *testing.T) {
	bin := buildEdged(t)
	dir := t.TempDir()
	good := writeConfig(t, dir, "127.0.0.1:8080")
	out, err := exec.Command(bin, "-check", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Errorf("edged -check good: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\naccounts: [{id: nope}]\nlisten: {api: x}\n"), 0o644)
	out, err = exec.Command(bin, "-check", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("edged -check bad: exit 0\n%s", out)
	}
	for _, want := range []string{"accounts[0].id", "listen.api", "validation"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("edged -check bad output lacks %q:\n%s", want, out)
		}
	}
	out, _ = exec.Command(bin, "-help").CombinedOutput()
	if !strings.Contains(string(out), "-check CONFIG") {
		t.Errorf("edged -help does not explain -check:\n%s", out)
	}
	// The embedded demo config passes its own check.
	demo := filepath.Join(dir, "demo.yaml")
	b, _ := exec.Command(bin, "-print-demo-config").Output()
	os.WriteFile(demo, b, 0o644)
	if out, err := exec.Command(bin, "-check", demo).CombinedOutput(); err != nil {
		t.Errorf("edged -check on the demo config: %v\n%s", err, out)
	}
}

// TestListenFD serves the API on a listening socket the test opened and
// passed as fd 3 (socket activation), and keeps serving across a restart of
// edged on the same socket: clients queue in the backlog meanwhile.
func TestListenFD(t *testing.T) {
	bin := buildEdged(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1") // listen.api is ignored with -listen-fd
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := ln.Addr().String()
	for round := range 2 {
		cmd := exec.Command(bin, "-config", cfg, "-listen-fd", "3", "-log-level", "warn")
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitAPI(t, addr)
		if round == 0 {
			resp, err := do("POST", addr, "/client/v4/accounts/"+testAccount+"/addressing/prefixes", `{"cidr":"203.0.113.0/24","asn":13335}`)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("creating a prefix: status %d", resp.StatusCode)
			}
		} else if got := listPrefixes(t, addr); len(got) != 1 {
			t.Fatalf("after a restart on the inherited socket: prefixes %v, want the one created", got)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("edged exited with %v after SIGTERM", err)
		}
	}

	// A descriptor that is not a listening socket is a clear error.
	out, err := exec.Command(bin, "-config", cfg, "-listen-fd", "7").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-listen-fd 7") {
		t.Fatalf("edged -listen-fd 7 (nothing inherited): err %v, output %s", err, out)
	}
}
