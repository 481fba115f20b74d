// Package freeport finds ports free at the time of the call, for tests that
// must name an address before the server that binds it starts (a config
// file, a command line). Another process may take the port in between;
// tests that can pass a listener instead should.
package freeport

import (
	"net"
	"testing"
)

// TCP returns a TCP port free on the wildcard address.
func TCP(t testing.TB) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// UDP returns a UDP port free on the wildcard address.
func UDP(t testing.TB) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// DNS returns a 127.0.0.1 address whose port is free for both UDP and TCP
// (a DNS server binds both).
func DNS(t testing.TB) string {
	t.Helper()
	for range 20 {
		uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		addr := uc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		uc.Close()
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no port free for both udp and tcp on 127.0.0.1 after 20 tries")
	return ""
}
