package streaming

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/net/websocket"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// Since Kubernetes 1.31 kubectl port-forwards over a WebSocket whose subprotocol is
// "SPDY/3.1+portforward.k8s.io": the WebSocket's binary messages carry the same SPDY
// connection a plain SPDY client would open. So the library's SPDY port-forward serves
// it as it is, once the request looks like a SPDY upgrade and the connection it hijacks
// is the WebSocket.

// tunnel turns a tunnelling WebSocket request into the SPDY upgrade the library serves,
// and w into a writer whose 101 answer is the WebSocket handshake.
func tunnel(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	spdyReq := r.Clone(r.Context())
	spdyReq.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	spdyReq.Header.Set(httpstream.HeaderUpgrade, spdy.HeaderSpdy31)
	spdyReq.Header.Del(httpstream.HeaderProtocolVersion)
	for _, p := range strings.Split(r.Header.Get(websocketProtocolHeader), ",") {
		if inner, ok := strings.CutPrefix(strings.TrimSpace(p), portforward.WebsocketsSPDYTunnelingPrefix); ok {
			spdyReq.Header.Add(httpstream.HeaderProtocolVersion, inner)
		}
	}
	return &tunnelWriter{ResponseWriter: w, wsReq: r, header: http.Header{}}, spdyReq
}

const websocketProtocolHeader = "Sec-WebSocket-Protocol"

// tunnelWriter is the library's ResponseWriter for a tunnelled port-forward. Until the
// upgrade, what the library writes (an error) goes to the client as it is; its 101 and
// hijack open the WebSocket, answering with the SPDY protocol the library chose.
type tunnelWriter struct {
	http.ResponseWriter
	wsReq  *http.Request
	header http.Header

	once     sync.Once
	conn     net.Conn
	err      error
	upgraded bool
}

func (t *tunnelWriter) Header() http.Header { return t.header }

func (t *tunnelWriter) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		return // the WebSocket handshake answers at the hijack
	}
	for k, v := range t.header {
		t.ResponseWriter.Header()[k] = v
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *tunnelWriter) Write(b []byte) (int, error) {
	if t.upgraded {
		return 0, errors.New("write to an upgraded response")
	}
	return t.ResponseWriter.Write(b)
}

// Hijack opens the WebSocket and returns it as the connection the SPDY server reads.
func (t *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	t.once.Do(func() {
		t.upgraded = true
		t.conn, t.err = openTunnel(t.ResponseWriter, t.wsReq, portforward.WebsocketsSPDYTunnelingPrefix+t.header.Get(httpstream.HeaderProtocolVersion))
	})
	if t.err != nil {
		return nil, nil, t.err
	}
	return t.conn, bufio.NewReadWriter(bufio.NewReader(t.conn), bufio.NewWriter(t.conn)), nil
}

// openTunnel completes the WebSocket handshake with protocol and returns the WebSocket
// as a connection of binary messages. x/net's server closes the WebSocket when its
// handler returns, so the handler waits for the connection's Close.
func openTunnel(w http.ResponseWriter, r *http.Request, protocol string) (net.Conn, error) {
	opened := make(chan net.Conn, 1)
	served := make(chan struct{})
	go func() {
		defer close(served)
		defer func() {
			// x/net panics when the connection cannot be hijacked.
			if p := recover(); p != nil {
				klog.ErrorS(fmt.Errorf("%v", p), "Open a port-forward WebSocket")
			}
		}()
		websocket.Server{
			Handshake: func(cfg *websocket.Config, _ *http.Request) error {
				for _, p := range cfg.Protocol {
					if p == protocol {
						cfg.Protocol = []string{p}
						return nil
					}
				}
				return fmt.Errorf("subprotocol %q not offered", protocol)
			},
			Handler: func(ws *websocket.Conn) {
				ws.PayloadType = websocket.BinaryFrame
				c := &tunnelConn{Conn: ws, closed: make(chan struct{})}
				opened <- c
				<-c.closed
			},
		}.ServeHTTP(w, r)
	}()
	select {
	case c := <-opened:
		return c, nil
	case <-served:
		return nil, errors.New("the port-forward WebSocket handshake failed")
	}
}

// tunnelConn is the WebSocket; its Close lets x/net's handler return.
type tunnelConn struct {
	*websocket.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *tunnelConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}
