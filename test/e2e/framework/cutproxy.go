package framework

import (
	"io"
	"net"
	"strings"
	"sync"
)

// CutProxy passes TCP connections through to an upstream until Cut drops
// them all at once: a client that vanishes from the network, without closing anything
// on the way out.
type CutProxy struct {
	Addr     string
	upstream string
	lis      net.Listener
	mu       sync.Mutex
	conns    []net.Conn
}

// StartCutProxy listens on 127.0.0.1 for connections to upstream: host:port, or
// unix:///path for a unix socket (Docker's API, say).
func StartCutProxy(upstream string) (*CutProxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &CutProxy{Addr: lis.Addr().String(), upstream: upstream, lis: lis}
	go p.accept()
	return p, nil
}

func (p *CutProxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		network, addr := "tcp", p.upstream
		if path, ok := strings.CutPrefix(p.upstream, "unix://"); ok {
			network, addr = "unix", path
		}
		up, err := net.Dial(network, addr)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Cut closes every connection the proxy carries.
func (p *CutProxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Close stops the proxy and cuts its connections.
func (p *CutProxy) Close() {
	p.lis.Close()
	p.Cut()
}
