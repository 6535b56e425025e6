// Package streaming serves exec, attach and port-forward for the kubelet through
// k8s.io/cri-streaming: SPDY (remotecommand v1–v4, port-forward) and WebSocket
// (channel protocols up to v4). What the library does not serve yet is added here from
// k8s.io/streaming's own pieces: WebSocket v5 exec/attach (kubectl's default since
// Kubernetes 1.31: it can say that stdin ended) and port-forward's SPDY tunnelled in a
// WebSocket (kubectl's since 1.31). The Exec, Attach and PortForward RPCs return a URL
// on this server carrying a single-use token that expires; the kubelet proxies the
// client to it.
package streaming

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	criStreaming "k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Runtime does the streaming work in containers: the cri-streaming library's interface.
type Runtime = criStreaming.Runtime

// Options configure the server.
type Options struct {
	// Addr is host:port; port 0 picks a free one.
	Addr string
	// CertFile and KeyFile, when both given, make the server speak TLS.
	CertFile, KeyFile string
}

// Server is the running streaming server.
type Server struct {
	criStreaming.Server
	rt          Runtime
	idleTimeout time.Duration
	http        *http.Server
	lis         net.Listener
	done        chan error

	// requests holds what each URL handed out was asked for, by its path. It is the
	// authority on tokens: a URL is served once, within tokenTTL, or not at all. The
	// library's cache says the same for what it serves, but it cannot be asked from here,
	// and the WebSocket v5 exec/attach path is served beside it (see websocket_v5.go).
	mu       sync.Mutex
	requests map[string]pending
}

// pending is a request whose URL has not been used yet.
type pending struct {
	req any // *runtimeapi.ExecRequest, *runtimeapi.AttachRequest or *runtimeapi.PortForwardRequest
	at  time.Time
}

// tokenTTL is how long a URL stays valid: as long as the library keeps its token.
const tokenTTL = time.Minute

type stdinKey struct{}

// StdinRequested tells whether the client of the stream being served asked for stdin;
// ok is false when unknown. The library hands the runtime a stdin stream either way
// over WebSocket, and attaching Docker's stdin for a client that sends none would end
// the attach at once.
func StdinRequested(ctx context.Context) (stdin, ok bool) {
	stdin, ok = ctx.Value(stdinKey{}).(bool)
	return stdin, ok
}

// GetAttach is the library's, remembering the request.
func (s *Server) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	resp, err := s.Server.GetAttach(req)
	if err == nil {
		err = s.remember(resp.GetUrl(), req)
	}
	return resp, err
}

// GetExec is the library's, remembering the request.
func (s *Server) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	resp, err := s.Server.GetExec(req)
	if err == nil {
		err = s.remember(resp.GetUrl(), req)
	}
	return resp, err
}

// GetPortForward is the library's, remembering the request.
func (s *Server) GetPortForward(req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	resp, err := s.Server.GetPortForward(req)
	if err == nil {
		err = s.remember(resp.GetUrl(), req)
	}
	return resp, err
}

func (s *Server) remember(rawURL string, req any) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return status.Errorf(codes.Internal, "streaming URL %q: %v", rawURL, err)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, e := range s.requests {
		if now.Sub(e.at) > tokenTTL {
			delete(s.requests, p)
		}
	}
	s.requests[u.Path] = pending{req: req, at: now}
	return nil
}

// take returns the request behind a URL path and forgets it: URLs are single-use.
func (s *Server) take(urlPath string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.requests[urlPath]
	delete(s.requests, urlPath)
	if !ok || time.Since(e.at) > tokenTTL {
		return nil, false
	}
	return e.req, true
}

// ServeHTTP serves a URL handed out once, with the stream's context cancelled when the
// client goes: WebSocket v5 exec/attach here, SPDY tunnelled in a WebSocket for
// port-forward through the library's SPDY handler, the rest by the library.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := s.take(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	w = watchedWriter{ResponseWriter: w, gone: cancel}
	switch req := req.(type) {
	case *runtimeapi.ExecRequest:
		if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
			s.serveExecV5(w, r.WithContext(ctx), req)
			return
		}
		ctx = context.WithValue(ctx, stdinKey{}, req.GetStdin())
	case *runtimeapi.AttachRequest:
		if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
			s.serveAttachV5(w, r.WithContext(ctx), req)
			return
		}
		ctx = context.WithValue(ctx, stdinKey{}, req.GetStdin())
	case *runtimeapi.PortForwardRequest:
		if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
			w, r = tunnel(w, r)
		}
	}
	s.Server.ServeHTTP(w, r.WithContext(ctx))
}

// Start listens on opts.Addr and serves in the background. The URLs handed out name the
// address actually bound (the port picked for port 0).
func Start(opts Options, rt Runtime) (*Server, error) {
	cfg := criStreaming.DefaultConfig
	cfg.Addr = opts.Addr
	scheme := "http"
	if opts.CertFile != "" || opts.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("streaming TLS certificate: %w", err)
		}
		cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	lis, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	cfg.BaseURL = &url.URL{Scheme: scheme, Host: lis.Addr().String()}
	srv, err := criStreaming.NewServer(cfg, rt)
	if err != nil {
		lis.Close()
		return nil, err
	}
	s := &Server{Server: srv, rt: rt, idleTimeout: cfg.StreamIdleTimeout, lis: lis, done: make(chan error, 1), requests: map[string]pending{}}
	s.http = &http.Server{Handler: s, TLSConfig: cfg.TLSConfig, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if cfg.TLSConfig != nil {
			s.done <- s.http.ServeTLS(lis, "", "")
		} else {
			s.done <- s.http.Serve(lis)
		}
	}()
	klog.V(2).InfoS("Streaming server listening", "url", cfg.BaseURL.String())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Stop closes the listener and every open stream.
func (s *Server) Stop() {
	if err := s.http.Close(); err != nil {
		klog.ErrorS(err, "Stop the streaming server")
	}
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		klog.ErrorS(err, "Streaming server")
	}
}
