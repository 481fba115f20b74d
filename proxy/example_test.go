package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/edgesim/edgesim/proxy"
)

// Example serves a Spectrum app on a loopback stand-in for a BYOIP prefix
// (127.77.0.0/16; on a lab host, an AnyIP route such as
// "ip route add local 203.0.113.0/24 dev lo" plays that part) and proxies a
// connection to an origin with a PROXY v2 header.
func Example() {
	ctx := context.Background()
	// An origin that reports the header length it received, then echoes.
	oln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer oln.Close()
	go func() {
		c, err := oln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		hdr := make([]byte, 28) // PROXY v2 for IPv4: 16 + 12 bytes
		io.ReadFull(c, hdr)
		io.Copy(c, c)
	}()

	p, err := proxy.New(proxy.Options{IdleTimeout: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Shutdown(ctx)
	edge, _ := p.Listen(ctx, proxy.TCP, 0) // wildcard listener: every edge IP
	app := &proxy.App{
		ID: "app1", Transport: proxy.TCP,
		EdgePortLow: edge.Port(), EdgePortHigh: edge.Port(),
		Origins:       []netip.AddrPort{oln.Addr().(*net.TCPAddr).AddrPort()},
		ProxyProtocol: proxy.ProxyV2,
	}
	p.Store(&proxy.Config{Table: proxy.StaticTable{
		{Prefix: netip.MustParsePrefix("127.77.0.0/16"), Apps: []*proxy.App{app}},
	}})

	c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.77.0.5"), edge.Port()).String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Write([]byte("hello"))
	b := make([]byte, 5)
	io.ReadFull(c, b)
	fmt.Println(string(b))
	// Output: hello
}
