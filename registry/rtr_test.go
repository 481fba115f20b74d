package registry

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCache is a minimal in-process RTR cache for unit tests.
type fakeCache struct {
	t  *testing.T
	ln net.Listener

	maxVersion         uint8 // answers a higher version with error 4
	cacheResetOnSerial bool  // answers Serial Query with Cache Reset

	resets  atomic.Int32 // Reset Queries received
	serials atomic.Int32 // Serial Queries received

	mu      sync.Mutex // guards the fields below and all writes
	session uint16
	serial  uint32
	vrps    map[VRP]bool
	diffs   map[uint32][]PDU // changes that produced each serial
	conns   map[net.Conn]uint8
}

func startFakeCache(t *testing.T, maxVersion uint8, vrps ...VRP) *fakeCache {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCache{t: t, ln: ln, maxVersion: maxVersion, session: 4242,
		vrps: map[VRP]bool{}, diffs: map[uint32][]PDU{}, conns: map[net.Conn]uint8{}}
	for _, v := range vrps {
		f.vrps[v] = true
	}
	var wg sync.WaitGroup
	wg.Go(func() { f.accept(&wg) })
	t.Cleanup(func() {
		ln.Close()
		f.dropAll()
		wg.Wait()
	})
	return f
}

func (f *fakeCache) addr() string { return f.ln.Addr().String() }

func (f *fakeCache) accept(wg *sync.WaitGroup) {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = 0
		f.mu.Unlock()
		wg.Go(func() { f.serve(c) })
	}
}

func (f *fakeCache) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
		delete(f.conns, c)
	}
}

func prefixPDU(v VRP, announce bool) PDU {
	p := PDU{Type: PDUIPv4Prefix, VRP: v}
	if v.Prefix.Addr().Is6() {
		p.Type = PDUIPv6Prefix
	}
	if announce {
		p.Flags = flagAnnounce
	}
	return p
}

func (f *fakeCache) writeLocked(c net.Conn, version uint8, pdus ...PDU) {
	var b []byte
	for _, p := range pdus {
		p.Version = version
		b = AppendPDU(b, p)
	}
	c.Write(b)
}

func (f *fakeCache) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		hdr := make([]byte, 8)
		if _, err := io.ReadFull(br, hdr); err != nil {
			return
		}
		n, err := PDULen(hdr)
		if err != nil {
			return
		}
		buf := append(hdr, make([]byte, n-8)...)
		if _, err := io.ReadFull(br, buf[8:]); err != nil {
			return
		}
		q, _, err := ParsePDU(buf)
		if err != nil {
			return
		}
		f.mu.Lock()
		if q.Version > f.maxVersion {
			f.writeLocked(c, f.maxVersion, PDU{Type: PDUErrorReport, ErrorCode: ErrCodeUnsupportedProtocolVersion, ErrPDU: buf, ErrText: "unsupported protocol version"})
			f.mu.Unlock()
			return
		}
		f.conns[c] = q.Version
		eod := PDU{Type: PDUEndOfData, SessionID: f.session, Serial: f.serial, Refresh: 3600, Retry: 600, Expire: 7200}
		switch q.Type {
		case PDUResetQuery:
			f.resets.Add(1)
			out := []PDU{{Type: PDUCacheResponse, SessionID: f.session}}
			for v := range f.vrps {
				out = append(out, prefixPDU(v, true))
			}
			f.writeLocked(c, q.Version, append(out, eod)...)
		case PDUSerialQuery:
			f.serials.Add(1)
			if f.cacheResetOnSerial {
				f.writeLocked(c, q.Version, PDU{Type: PDUCacheReset})
				break
			}
			out := []PDU{{Type: PDUCacheResponse, SessionID: f.session}}
			for s := q.Serial + 1; s <= f.serial; s++ {
				out = append(out, f.diffs[s]...)
			}
			f.writeLocked(c, q.Version, append(out, eod)...)
		}
		f.mu.Unlock()
	}
}

// update changes the set, bumps the serial and sends Serial Notify.
func (f *fakeCache) update(announce, withdraw []VRP) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serial++
	var diff []PDU
	for _, v := range withdraw {
		delete(f.vrps, v)
		diff = append(diff, prefixPDU(v, false))
	}
	for _, v := range announce {
		f.vrps[v] = true
		diff = append(diff, prefixPDU(v, true))
	}
	f.diffs[f.serial] = diff
	for c, ver := range f.conns {
		f.writeLocked(c, ver, PDU{Type: PDUSerialNotify, SessionID: f.session, Serial: f.serial})
	}
}

func vrp(s string, maxLen uint8, asn uint32) VRP {
	return VRP{Prefix: netip.MustParsePrefix(s), MaxLen: maxLen, ASN: asn}
}

// waitRPKI polls Validate until the RPKI state is want or the deadline passes.
func waitRPKI(t *testing.T, v *Validator, prefix string, asn uint32, want State, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var (
		got Result
		err error
	)
	for time.Now().Before(deadline) {
		got, err = v.Validate(t.Context(), netip.MustParsePrefix(prefix), asn, "t")
		if err == nil && got.RPKI == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("Validate(%s, AS%d) = (%+v, %v) after %s, want RPKI %s", prefix, asn, got, err, within, want)
}

func rpkiOf(t *testing.T, v *Validator, prefix string, asn uint32) State {
	t.Helper()
	got, err := v.Validate(t.Context(), netip.MustParsePrefix(prefix), asn, "t")
	if err != nil {
		t.Fatalf("Validate(%s, AS%d) error = %v", prefix, asn, err)
	}
	return got.RPKI
}

func TestRTRSyncAndSerialNotify(t *testing.T) {
	t.Parallel()
	f := startFakeCache(t, 1, vrp("192.0.2.0/24", 24, 64496), vrp("2001:db8::/32", 48, 64496))
	v := newValidator(t, Options{RTRAddr: f.addr(), Timeout: 5 * time.Second})
	// The first Validate waits for End of Data instead of answering missing.
	if got := rpkiOf(t, v, "192.0.2.0/24", 64496); got != StateValid {
		t.Fatalf("first Validate RPKI = %s, want valid", got)
	}
	if got := rpkiOf(t, v, "2001:db8:1::/48", 64496); got != StateValid {
		t.Fatalf("Validate(2001:db8:1::/48) RPKI = %s, want valid", got)
	}
	if s := v.rtr.snap.Load(); s.version != 1 || s.session != 4242 || s.count != 2 {
		t.Errorf("snapshot = version %d session %d count %d, want 1 4242 2", s.version, s.session, s.count)
	}

	f.update([]VRP{vrp("192.0.2.0/24", 24, 64497)}, []VRP{vrp("192.0.2.0/24", 24, 64496)})
	waitRPKI(t, v, "192.0.2.0/24", 64496, StateMismatchASN, 5*time.Second)
	f.update([]VRP{vrp("203.0.113.0/24", 24, 64496)}, nil)
	waitRPKI(t, v, "203.0.113.0/24", 64496, StateValid, 5*time.Second)
	if got := rpkiOf(t, v, "2001:db8:1::/48", 64496); got != StateValid {
		t.Errorf("after incremental updates 2001:db8:1::/48 RPKI = %s, want valid", got)
	}
	if r, s := f.resets.Load(), f.serials.Load(); r != 1 || s < 2 {
		t.Errorf("cache saw %d reset and %d serial queries, want 1 and >= 2", r, s)
	}
}

func TestRTRDowngradeToVersion0(t *testing.T) {
	t.Parallel()
	f := startFakeCache(t, 0, vrp("198.51.100.0/24", 24, 64496))
	v := newValidator(t, Options{RTRAddr: f.addr(), Timeout: 5 * time.Second})
	if err := v.WaitSynced(t.Context()); err != nil {
		t.Fatalf("WaitSynced() error = %v", err)
	}
	if got := rpkiOf(t, v, "198.51.100.0/24", 64496); got != StateValid {
		t.Fatalf("Validate RPKI = %s, want valid", got)
	}
	if s := v.rtr.snap.Load(); s.version != 0 {
		t.Errorf("snapshot version = %d, want 0", s.version)
	}
	f.update([]VRP{vrp("198.51.100.0/24", 24, 64497)}, []VRP{vrp("198.51.100.0/24", 24, 64496)})
	waitRPKI(t, v, "198.51.100.0/24", 64496, StateMismatchASN, 5*time.Second)
}

func TestRTRCacheReset(t *testing.T) {
	t.Parallel()
	f := startFakeCache(t, 1, vrp("192.0.2.0/24", 24, 64496))
	f.cacheResetOnSerial = true // set before any client connects
	v := newValidator(t, Options{RTRAddr: f.addr(), Timeout: 5 * time.Second})
	if got := rpkiOf(t, v, "192.0.2.0/24", 64496); got != StateValid {
		t.Fatalf("Validate RPKI = %s, want valid", got)
	}
	f.update(nil, []VRP{vrp("192.0.2.0/24", 24, 64496)})
	waitRPKI(t, v, "192.0.2.0/24", 64496, StateMissing, 5*time.Second)
	if r := f.resets.Load(); r < 2 {
		t.Errorf("cache saw %d reset queries, want >= 2", r)
	}
}

func TestRTRReconnect(t *testing.T) {
	t.Parallel()
	f := startFakeCache(t, 1, vrp("192.0.2.0/24", 24, 64496))
	v := newValidator(t, Options{RTRAddr: f.addr(), Timeout: 5 * time.Second})
	if got := rpkiOf(t, v, "192.0.2.0/24", 64496); got != StateValid {
		t.Fatalf("Validate RPKI = %s, want valid", got)
	}
	f.dropAll()
	// The last good set stays in use while the client reconnects.
	if got := rpkiOf(t, v, "192.0.2.0/24", 64496); got != StateValid {
		t.Fatalf("Validate RPKI after drop = %s, want valid", got)
	}
	f.update([]VRP{vrp("203.0.113.0/24", 24, 64496)}, nil)
	waitRPKI(t, v, "203.0.113.0/24", 64496, StateValid, 10*time.Second)
	if r := f.resets.Load(); r < 2 {
		t.Errorf("cache saw %d reset queries, want >= 2", r)
	}
}

func TestRTRUnionWithROAFile(t *testing.T) {
	t.Parallel()
	f := startFakeCache(t, 1, vrp("192.0.2.0/24", 24, 64496))
	v := newValidator(t, Options{ROAFile: "testdata/roas.json", RTRAddr: f.addr(), Timeout: 5 * time.Second})
	for prefix, want := range map[string]State{
		"192.0.2.0/24":      StateValid, // both
		"198.51.100.0/24":   StateValid, // file only
		"2001:db8:100::/48": StateValid, // file only
		"203.0.113.0/24":    StateMissing,
	} {
		if got := rpkiOf(t, v, prefix, 64496); got != want {
			t.Errorf("Validate(%s) RPKI = %s, want %s", prefix, got, want)
		}
	}
}

func TestRTRUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	v := newValidator(t, Options{RTRAddr: addr, Timeout: 200 * time.Millisecond})
	_, err = v.Validate(t.Context(), netip.MustParsePrefix("192.0.2.0/24"), 64496, "t")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Validate(unreachable rtr) error = %v, want deadline exceeded", err)
	}
	if err := v.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	select {
	case <-v.rtr.done:
	default:
		t.Fatal("rtr goroutine still running after Close")
	}
}

// TestRTRSessionProtocolErrors feeds out-of-order PDUs to the session state
// machine directly.
func TestRTRSessionProtocolErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pdus []PDU
	}{
		{"prefix outside response", []PDU{{Version: 1, Type: PDUIPv4Prefix, Flags: 1, VRP: vrp("192.0.2.0/24", 24, 1)}}},
		{"end of data outside response", []PDU{{Version: 1, Type: PDUEndOfData}}},
		{"version change", []PDU{{Version: 1, Type: PDUCacheResponse}, {Version: 0, Type: PDUEndOfData}}},
		{"higher version", []PDU{{Version: 2, Type: PDUCacheResponse}}},
		{"session mismatch", []PDU{{Version: 1, Type: PDUCacheResponse, SessionID: 1}, {Version: 1, Type: PDUEndOfData, SessionID: 2}}},
		{"error report", []PDU{{Version: 1, Type: PDUErrorReport, ErrorCode: ErrCodeNoDataAvailable}}},
		{"unknown type", []PDU{{Version: 1, Type: 42}}},
		{"double cache response", []PDU{{Version: 1, Type: PDUCacheResponse}, {Version: 1, Type: PDUCacheResponse}}},
	}
	for _, tt := range tests {
		c := &rtrClient{addr: "test", ready: make(chan struct{}), version: 1}
		s := &rtrSession{c: c, version: 1, awaiting: true}
		var err error
		for _, p := range tt.pdus {
			if _, err = s.handle(p); err != nil {
				break
			}
		}
		if err == nil {
			t.Errorf("%s: handle() error = nil, want protocol error", tt.name)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a child process and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startStayRTR runs Debian's stayrtr on a temp copy of roaJSON and returns
// its RTR address and the file it serves.
func startStayRTR(t *testing.T, roaJSON []byte, protocol int) (addr, file string) {
	t.Helper()
	bin, err := exec.LookPath("stayrtr")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("stayrtr not installed but CI=true: install it with 'apt-get install stayrtr' (%v)", err)
		}
		t.Skip("skipping: stayrtr not installed (apt-get install stayrtr)")
	}
	file = filepath.Join(t.TempDir(), "vrps.json")
	if err := os.WriteFile(file, roaJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	addr = "127.0.0.1:" + freePort(t)
	var out syncBuffer
	cmd := exec.Command(bin,
		"-bind", addr,
		"-cache", file,
		"-checktime=false",
		"-metrics.addr", "127.0.0.1:"+freePort(t),
		"-refresh", "1",
		"-protocol", strconv.Itoa(protocol),
		"-loglevel", "debug",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting stayrtr: %v", err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID: the process this test started
		cmd.Wait()
		if t.Failed() {
			t.Logf("stayrtr (pid %d) output:\n%s", pid, out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return addr, file
		}
		if time.Now().After(deadline) {
			t.Fatalf("stayrtr did not accept on %s within 10s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestStayRTRIntegration(t *testing.T) {
	t.Parallel()
	roaJSON, err := os.ReadFile("testdata/vrps-stayrtr.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, protocol := range []int{2, 1, 0} {
		t.Run("protocol"+strconv.Itoa(protocol), func(t *testing.T) {
			t.Parallel()
			addr, file := startStayRTR(t, roaJSON, protocol)
			v := newValidator(t, Options{RTRAddr: addr, Timeout: 5 * time.Second})
			tests := []struct {
				prefix string
				asn    uint32
				want   State
			}{
				{"192.0.2.0/24", 64496, StateValid},
				{"198.51.100.0/25", 64496, StateInvalid},
				{"203.0.113.0/25", 64496, StateMismatchASN},
				{"203.0.113.0/24", 64496, StateMissing},
				{"2001:db8:100::/48", 64496, StateValid},
				{"2001:db8:100::/56", 64496, StateInvalid},
			}
			for _, tt := range tests {
				if got := rpkiOf(t, v, tt.prefix, tt.asn); got != tt.want {
					t.Errorf("Validate(%s, AS%d) RPKI = %s, want %s", tt.prefix, tt.asn, got, tt.want)
				}
			}
			wantVersion := uint8(min(protocol, 1))
			if s := v.rtr.snap.Load(); s.version != wantVersion {
				t.Errorf("negotiated version = %d, want %d", s.version, wantVersion)
			}

			// stayrtr re-reads the file every second and sends Serial
			// Notify; the change must reach Validate.
			changed := bytes.Replace(roaJSON, []byte(`"prefix": "192.0.2.0/24", "maxLength": 24, "asn": "AS64496"`),
				[]byte(`"prefix": "192.0.2.0/24", "maxLength": 24, "asn": "AS64497"`), 1)
			if bytes.Equal(changed, roaJSON) {
				t.Fatal("fixture edit did not apply")
			}
			if err := os.WriteFile(file, changed, 0o644); err != nil {
				t.Fatal(err)
			}
			waitRPKI(t, v, "192.0.2.0/24", 64496, StateMismatchASN, 20*time.Second)
			waitRPKI(t, v, "192.0.2.0/24", 64497, StateValid, time.Second)
		})
	}
}
