// Package etcdtest runs a real etcd server (Debian's etcd-server, /usr/bin/etcd) for tests:
// one member on loopback with ports picked at run time and a data directory under the test's
// temporary directory. Without the binary a test skips with a clear message, and fails under
// CI=true (internal/netnstest.RequireBinary); etcd needs no root. It is test support only.
//
// Typical usage:
//
//	srv := etcdtest.Start(t) // stopped by PID in t.Cleanup, even when t fails
//	s, err := store.OpenEtcd(t.Context(), store.EtcdOptions{Endpoints: []string{srv.Endpoint()}})
package etcdtest

import (
	"bytes"
	"fmt"
	"io"
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

	"github.com/edgesim/edgesim/internal/netnstest"
)

// Binary is the etcd server the tests run.
const Binary = "etcd"

// startTimeout bounds how long Start waits for the member to report healthy.
const startTimeout = 30 * time.Second

// Server is one running etcd member. Its methods must be called from the test goroutine.
type Server struct {
	dir        string // data directory
	logPath    string
	clientURL  string
	peerURL    string
	cmd        *exec.Cmd
	exited     chan struct{} // closed when cmd has been waited for
	stopOnce   sync.Once
	generation int
}

// Start starts an etcd member for t and waits until it is healthy. It skips t (fails it under
// CI=true) when the etcd binary is missing. The member is stopped by PID in t.Cleanup and its
// log is printed when t failed.
func Start(t testing.TB) *Server {
	t.Helper()
	netnstest.RequireBinary(t, Binary)
	base := t.TempDir()
	s := &Server{dir: filepath.Join(base, "data"), logPath: filepath.Join(base, "etcd.log")}
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			s.dumpLog(t)
		}
	})
	var err error
	for attempt := range 3 {
		// A port picked below may be taken before etcd binds it; then try others.
		var ports [2]int
		if ports, err = freePorts(); err != nil {
			t.Fatal(err)
		}
		s.clientURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		s.peerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		if err = s.start(); err == nil {
			return s
		}
		t.Logf("etcd start attempt %d: %v", attempt+1, err)
		s.stop(t)
		os.RemoveAll(s.dir)
	}
	t.Fatalf("starting etcd: %v", err)
	return nil
}

// Endpoint returns the client URL.
func (s *Server) Endpoint() string { return s.clientURL }

// PID returns the process ID of the running member.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Restart kills the member with SIGKILL (no clean shutdown), waits for it to exit and starts
// it again on the same data directory and ports.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing etcd (pid %d): %v", s.PID(), err)
	}
	<-s.exited
	var err error
	for range 3 {
		if err = s.start(); err == nil {
			return
		}
		// The old listeners may linger for a moment.
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("restarting etcd: %v", err)
}

// start launches the member and waits for /health.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.generation++
	fmt.Fprintf(logf, "=== etcdtest: start %d, client %s, peer %s\n", s.generation, s.clientURL, s.peerURL)
	cmd := exec.Command(Binary,
		"--name", "edgesim-test",
		"--data-dir", s.dir,
		"--listen-client-urls", s.clientURL,
		"--advertise-client-urls", s.clientURL,
		"--listen-peer-urls", s.peerURL,
		"--initial-advertise-peer-urls", s.peerURL,
		"--initial-cluster", "edgesim-test="+s.peerURL,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "edgesim-test",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a terminal's signals do not reach it; it is stopped by
	// its PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", Binary, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.stopOnce = sync.Once{}
	deadline := time.Now().Add(startTimeout)
	for {
		if healthy(s.clientURL) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("etcd exited during start (%v): %s", cmd.ProcessState, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not healthy after %v: %s", startTimeout, s.logTail())
		}
	}
}

func healthy(clientURL string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(clientURL + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`"health":"true"`))
}

// stop sends SIGTERM to the member's PID, and SIGKILL if it has not exited after 10s.
func (s *Server) stop(t testing.TB) {
	if s.cmd == nil {
		return
	}
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Logf("etcd (pid %d) ignored SIGTERM for 10s; killing it", s.PID())
			s.cmd.Process.Signal(syscall.SIGKILL)
			<-s.exited
		}
	})
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

func (s *Server) dumpLog(t testing.TB) {
	t.Logf("etcd log (%s), last lines:\n%s", s.logPath, s.logTail())
}

// freePorts returns two TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts() ([2]int, error) {
	var ports [2]int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports, fmt.Errorf("picking a port for etcd: %w", err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
