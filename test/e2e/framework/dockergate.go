package framework

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// DockerGate fronts a Docker Engine's API with a socket of its own and passes every
// request through, except one the test picks (Hold): that one waits, before Docker
// gets it or after Docker answered it, until Release or until its client goes away. A
// test that kills dockercri while a request is held knows exactly which step of which
// call it killed: one of a deterministic spread of points.
type DockerGate struct {
	Endpoint string
	server   *http.Server
	proxy    *httputil.ReverseProxy
	client   *http.Client

	mu sync.Mutex
	// armed waits for its request; taken holds one.
	armed, taken *gateHold
}

type gateHold struct {
	method  string
	path    *regexp.Regexp
	after   bool
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

// versionPrefix is the API version Docker's clients put before each path.
var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

// StartDockerGate serves a gate for upstream (unix:///path) on dir/docker-gate.sock.
func StartDockerGate(dir, upstream string) (*DockerGate, error) {
	sock := filepath.Join(dir, "docker-gate.sock")
	_ = os.Remove(sock)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	path := strings.TrimPrefix(upstream, "unix://")
	transport := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
	target := &url.URL{Scheme: "http", Host: "docker"}
	g := &DockerGate{Endpoint: "unix://" + sock, client: &http.Client{Transport: transport}}
	g.proxy = httputil.NewSingleHostReverseProxy(target)
	g.proxy.Transport = transport
	g.proxy.FlushInterval = -1 // event streams, logs and pulls go through as they come
	g.server = &http.Server{Handler: http.HandlerFunc(g.serve)}
	go func() { _ = g.server.Serve(lis) }()
	return g, nil
}

// Hold arms the gate for the next request of method whose path (without its API
// version) matches pathRE, held before Docker gets it or, with after, once Docker
// answered it. The channel closes when the request is held: Docker has not seen it
// yet, or has done it.
func (g *DockerGate) Hold(method, pathRE string, after bool) <-chan struct{} {
	h := &gateHold{method: method, path: regexp.MustCompile(pathRE), after: after, held: make(chan struct{}), release: make(chan struct{})}
	g.mu.Lock()
	g.armed = h
	g.mu.Unlock()
	return h.held
}

// Release lets the held request go on (or the armed one pass), and disarms the gate.
func (g *DockerGate) Release() {
	g.mu.Lock()
	hs := []*gateHold{g.armed, g.taken}
	g.armed, g.taken = nil, nil
	g.mu.Unlock()
	for _, h := range hs {
		if h != nil {
			h.once.Do(func() { close(h.release) })
		}
	}
}

// take returns the armed hold if r is its request, and disarms the gate.
func (g *DockerGate) take(r *http.Request) *gateHold {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.armed
	if h == nil || r.Method != h.method || !h.path.MatchString(versionPrefix.ReplaceAllString(r.URL.Path, "")) {
		return nil
	}
	g.armed, g.taken = nil, h
	return h
}

func (g *DockerGate) serve(w http.ResponseWriter, r *http.Request) {
	h := g.take(r)
	if h == nil {
		g.proxy.ServeHTTP(w, r)
		return
	}
	// Read whole, so that the server notices at once when the caller goes away.
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !h.after {
		close(h.held)
		select {
		case <-h.release:
			g.proxy.ServeHTTP(w, r)
		case <-r.Context().Done(): // its caller died: Docker never got it
		}
		return
	}
	// Docker does the step; its answer waits.
	up, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, "http://docker"+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		close(h.held)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	up.Header = r.Header.Clone()
	resp, err := g.client.Do(up)
	close(h.held)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	select {
	case <-h.release:
	case <-r.Context().Done():
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// Close stops the gate and drops the connections it holds.
func (g *DockerGate) Close() {
	g.Release()
	_ = g.server.Close()
}
