package main

import (
	"context"
	"flag"
	"io"
	"net"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// origin runs the benchmark origins. Both accept an optional PROXY header
// (go-proxyproto, policy USE), so the same origin serves direct clients,
// HAProxy (send-proxy-v2) and edgesim (proxy_protocol v2).
//
//	-http: reads one request, answers "HTTP/1.0 200 OK ... ok" and closes
//	       first (keeps TIME_WAIT off the client's ephemeral ports)
//	-echo: echoes until EOF
func origin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("origin", flag.ExitOnError)
	httpAddr := fs.String("http", "127.0.0.1:9000", "short request/response origin")
	echoAddr := fs.String("echo", "127.0.0.1:9001", "echo origin")
	fs.Parse(args)
	raiseNofile(1 << 17)
	for _, o := range []struct {
		addr string
		h    func(net.Conn)
	}{{*httpAddr, httpOnce}, {*echoAddr, echoConn}} {
		ln, err := net.Listen("tcp", o.addr)
		if err != nil {
			return err
		}
		pl := &proxyproto.Listener{Listener: ln, ReadHeaderTimeout: 5 * time.Second,
			ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.USE, nil }}
		context.AfterFunc(ctx, func() { pl.Close() })
		go func() {
			for {
				c, err := pl.Accept()
				if err != nil {
					return
				}
				go o.h(c)
			}
		}()
	}
	<-ctx.Done()
	return nil
}

var httpResp = []byte("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

func httpOnce(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 512)
	if _, err := c.Read(b); err != nil {
		return
	}
	c.Write(httpResp)
}

func echoConn(c net.Conn) {
	defer c.Close()
	b := make([]byte, 4096)
	for {
		n, err := c.Read(b)
		if n > 0 {
			if _, err := c.Write(b[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

var _ = io.EOF
