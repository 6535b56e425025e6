package framework

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// RegistryProxy makes a local registry answer for public registry names
// (registry.k8s.io, gcr.io, …), so that a dockerd given it as HTTPS_PROXY pulls images
// by their real names while nothing leaves the machine. It is an HTTP CONNECT proxy that
// tunnels only to the names it serves, ends the tunnel's TLS itself with a certificate
// for those names (the dockerd lists them as insecure registries, so it does not ask who
// signed it) and hands each request to the registry. Any other name is refused.
type RegistryProxy struct {
	// URL is the proxy, for HTTPS_PROXY.
	URL   string
	names []string
	outer *http.Server
	inner *http.Server
	conns *connListener
}

// StartRegistryProxy serves names from reg, with its certificate written into dir.
func StartRegistryProxy(dir string, reg *Registry, names ...string) (*RegistryProxy, error) {
	certFile, keyFile, _, err := ServingCert(dir, names...)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	backend := &url.URL{Scheme: "http", Host: reg.Host}
	p := &RegistryProxy{URL: "http://" + ln.Addr().String(), names: names, conns: newConnListener(ln.Addr())}
	p.inner = &http.Server{
		Handler:   &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(backend) }},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	p.outer = &http.Server{Handler: http.HandlerFunc(p.connect)}
	go func() { _ = p.inner.ServeTLS(p.conns, "", "") }()
	go func() { _ = p.outer.Serve(ln) }()
	return p, nil
}

// connect opens a tunnel to a served name and passes it to the registry's side.
func (p *RegistryProxy) connect(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if r.Method != http.MethodConnect || err != nil || !slices.Contains(p.names, host) {
		http.Error(w, fmt.Sprintf("%s %s is not served by the test registry proxy", r.Method, r.Host), http.StatusForbidden)
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		conn.Close()
		return
	}
	if !p.conns.put(conn) {
		conn.Close()
	}
}

// Stop closes the proxy and its tunnels.
func (p *RegistryProxy) Stop() {
	if p == nil {
		return
	}
	_ = p.outer.Close()
	_ = p.inner.Close()
}

// connListener is a net.Listener whose connections are the proxy's tunnels.
type connListener struct {
	addr   net.Addr
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) put(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, errors.New("registry proxy closed")
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// StartServingDockerd starts a registry in dir answering for names through a
// RegistryProxy, and a dockerd of the test's own that pulls through it (names are its
// insecure registries), with extraArgs; all are stopped when the test ends. A suite's
// images pushed there (PushSuiteImages) are pulled by their real names.
func StartServingDockerd(t testing.TB, dir string, names []string, extraArgs ...string) (*Registry, *Dockerd) {
	t.Helper()
	reg, err := StartRegistry(filepath.Join(dir, "registry"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	proxy, err := StartRegistryProxy(dir, reg, names...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	args := slices.Clone(extraArgs)
	for _, name := range names {
		args = append(args, "--insecure-registry", name)
	}
	proxyEnv := []string{"HTTPS_PROXY=" + proxy.URL, "HTTP_PROXY=" + proxy.URL, "NO_PROXY=127.0.0.1,localhost"}
	docker, err := StartPrivateDockerdWith(filepath.Join(dir, "dockerd"), proxyEnv, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = docker.Stop() })
	return reg, docker
}
