//go:build e2e

package e2e

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/gorilla/websocket"
	"k8s.io/apimachinery/pkg/util/httpstream"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// protocols are the two transports of the streaming server: SPDY (remotecommand v1–v4,
// portforward.k8s.io) and WebSocket with the channel protocol v4.channel.k8s.io, the
// newest k8s.io/cri-streaming serves (v5 and SPDY-over-WebSocket tunnelling are what
// the API server speaks to kubectl; it speaks SPDY to the kubelet).
var protocols = []string{"spdy", "websocket"}

// webSocketProtocol is the WebSocket subprotocol the tests ask for.
const webSocketProtocol = "v4.channel.k8s.io"

// executor is kubectl's client for a streaming URL (exec or attach) over proto.
func executor(t *testing.T, proto, rawURL string) remotecommand.Executor {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var ex remotecommand.Executor
	if proto == "spdy" {
		ex, err = remotecommand.NewSPDYExecutor(&restclient.Config{}, "POST", u)
	} else {
		ex, err = remotecommand.NewWebSocketExecutorForProtocols(&restclient.Config{}, "GET", rawURL, webSocketProtocol)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// exitCode is the exit code a stream's error carries, 0 for none, -1 for another error.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	return -1
}

// fixedSize is a terminal that reports one size, once.
type fixedSize struct {
	size *remotecommand.TerminalSize
}

func (f *fixedSize) Next() *remotecommand.TerminalSize {
	s := f.size
	f.size = nil
	if s == nil {
		select {} // no more resizes: block as a terminal that never changes would
	}
	return s
}

// forwarder starts kubectl's port-forward client on rawURL to remotePort over proto and
// returns the local port; it stops with the test.
func forwarder(t *testing.T, proto, rawURL string, remotePort int) (int, func()) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &restclient.Config{}
	var dialer httpstream.Dialer
	if proto == "spdy" {
		transport, upgrader, err := spdy.RoundTripperFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dialer = spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	} else if dialer, err = portforward.NewSPDYOverWebsocketDialer(u, cfg); err != nil {
		t.Fatal(err)
	}
	return framework.StartPortForward(t, dialer, remotePort)
}

// wsPortForward opens a port-forward to port over WebSocket with the channel protocol
// the server speaks (k8s.io/cri-streaming's: a data and an error channel per port, each
// opened by the port number in two bytes), sends request and returns what the pod
// sends back until it closes. client-go has no client for it: kubectl's WebSocket
// port-forward tunnels SPDY, which the API server unwraps before the kubelet.
func wsPortForward(t *testing.T, rawURL string, port int, request string) []byte {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "ws"
	u.RawQuery = "port=" + strconv.Itoa(port)
	conn, _, err := (&websocket.Dialer{Subprotocols: []string{webSocketProtocol}}).Dial(u.String(), nil)
	if err != nil {
		t.Fatalf("WebSocket port-forward: %v", err)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.BinaryMessage, append([]byte{0}, request...)); err != nil {
		t.Fatal(err)
	}
	var data, errs []byte
	opened := map[byte]bool{}
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			break // the pod closed its side: the server closes the WebSocket
		}
		if len(msg) == 0 {
			continue
		}
		ch, payload := msg[0], msg[1:]
		if !opened[ch] && len(payload) >= 2 {
			opened[ch] = true
			payload = payload[2:]
		}
		if ch == 0 {
			data = append(data, payload...)
		} else {
			errs = append(errs, payload...)
		}
	}
	if len(errs) > 0 {
		t.Errorf("port-forward error channel: %s", errs)
	}
	return data
}
