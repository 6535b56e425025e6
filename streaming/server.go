// Package streaming serves exec, attach and port-forward for the kubelet through
// k8s.io/cri-streaming (SPDY and WebSocket, every protocol version the kubelet and
// kubectl speak). The Exec, Attach and PortForward RPCs return a URL on this server
// carrying a single-use token that expires; the kubelet proxies the client to it.
package streaming

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	criStreaming "k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/klog/v2"
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
	http *http.Server
	lis  net.Listener
	done chan error

	// stdin remembers, per token, whether the client asked for stdin: the library hands
	// the runtime a stdin stream either way (over WebSocket), and attaching Docker's
	// stdin for a client that sends none would end the attach at once.
	mu    sync.Mutex
	stdin map[string]tokenStdin
}

type tokenStdin struct {
	stdin bool
	at    time.Time
}

// tokenTTL is how long a token is remembered: longer than the library keeps it.
const tokenTTL = 5 * time.Minute

type stdinKey struct{}

// StdinRequested tells whether the client of the stream being served asked for stdin;
// ok is false when unknown.
func StdinRequested(ctx context.Context) (stdin, ok bool) {
	stdin, ok = ctx.Value(stdinKey{}).(bool)
	return stdin, ok
}

// GetAttach is the library's, remembering whether stdin was asked for.
func (s *Server) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	resp, err := s.Server.GetAttach(req)
	if err == nil {
		s.remember(resp.GetUrl(), req.GetStdin())
	}
	return resp, err
}

// GetExec is the library's, remembering whether stdin was asked for.
func (s *Server) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	resp, err := s.Server.GetExec(req)
	if err == nil {
		s.remember(resp.GetUrl(), req.GetStdin())
	}
	return resp, err
}

func (s *Server) remember(rawURL string, stdin bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, e := range s.stdin {
		if now.Sub(e.at) > tokenTTL {
			delete(s.stdin, t)
		}
	}
	s.stdin[path.Base(rawURL)] = tokenStdin{stdin: stdin, at: now}
}

// ServeHTTP passes the request to the library, with what the client asked for in its
// context, and that context cancelled when the client goes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	e, ok := s.stdin[path.Base(r.URL.Path)]
	delete(s.stdin, path.Base(r.URL.Path))
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if ok {
		ctx = context.WithValue(ctx, stdinKey{}, e.stdin)
	}
	s.Server.ServeHTTP(watchedWriter{ResponseWriter: w, gone: cancel}, r.WithContext(ctx))
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
	s := &Server{Server: srv, lis: lis, done: make(chan error, 1), stdin: map[string]tokenStdin{}}
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
