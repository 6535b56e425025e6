package framework

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// StallProxy fronts a registry on 127.0.0.1 and passes everything through, except that
// a blob download sends its headers and the first bytes of the blob (half of it, at most
// 512 bytes), then nothing until the client goes away: a registry that stalls mid-pull.
type StallProxy struct {
	Host   string
	server *http.Server
	mu     sync.Mutex
	stalls int
}

// StartStallProxy starts a stalling proxy for the registry at upstream (host:port).
func StartStallProxy(upstream string) (*StallProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	target := &url.URL{Scheme: "http", Host: upstream}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &StallProxy{Host: l.Addr().String()}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			rp.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.stalls++
		p.mu.Unlock()
		// The blob's real headers and first bytes, as a registry that stalls sends them
		// (a client may keep them to resume from).
		up, err := http.Get(target.JoinPath(r.URL.Path).String())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Body.Close()
		head := make([]byte, min(up.ContentLength/2, 512))
		if _, err := io.ReadFull(up.Body, head); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", up.Header.Get("Content-Type"))
		w.Header().Set("Content-Length", strconv.FormatInt(up.ContentLength, 10))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(head)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

// Stalls is how many blob downloads the proxy has held up.
func (p *StallProxy) Stalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalls
}

// Close stops the proxy and drops the connections it holds.
func (p *StallProxy) Close() { _ = p.server.Close() }
