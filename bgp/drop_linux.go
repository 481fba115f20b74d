package bgp

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dropSessions shuts down this process's established TCP connections to the
// given peers without a BGP NOTIFICATION. GoBGP v3 has no call for that
// (StopBgp always sends Cease/Peer De-configured, which RFC 8538 makes a hard
// reset), so the sockets are found through /proc/self and shut down by
// descriptor. The descriptors stay owned by GoBGP, which sees EOF and closes
// them itself.
func dropSessions(peers []PeerConfig) error {
	want := make(map[netip.Addr]bool, len(peers))
	for _, c := range peers {
		want[c.Address] = true
	}
	inodes := map[uint64]bool{}
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		if err := scanTCP(f, want, inodes); err != nil {
			return err
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing descriptors: %w", err)
	}
	var errs []error
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
		if err != nil || !inodes[ino] {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Re-check the descriptor still is that socket before acting on it.
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Ino != ino {
			continue
		}
		if err := unix.Shutdown(fd, unix.SHUT_RDWR); err != nil && !errors.Is(err, unix.ENOTCONN) {
			errs = append(errs, fmt.Errorf("shutting down socket %d: %w", fd, err))
		}
	}
	return errors.Join(errs...)
}

// scanTCP adds the inodes of established sockets whose remote address is
// in want, from a /proc/net/tcp{,6} table.
func scanTCP(file string, want map[netip.Addr]bool, inodes map[uint64]bool) error {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("reading %q: %w", file, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "01" { // TCP_ESTABLISHED
			continue
		}
		addr, ok := procAddr(fields[2])
		if !ok || !want[addr] {
			continue
		}
		if ino, err := strconv.ParseUint(fields[9], 10, 64); err == nil && ino != 0 {
			inodes[ino] = true
		}
	}
	return sc.Err()
}

// procAddr parses "0100007F:0050" or the 32-digit IPv6 form: each 32-bit
// word of the address is printed in host (little-endian) order.
func procAddr(s string) (netip.Addr, bool) {
	host, _, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, false
	}
	b, err := hex.DecodeString(host)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	for i := 0; i < len(b); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:]))
	}
	a, ok := netip.AddrFromSlice(b)
	return a.Unmap(), ok
}
