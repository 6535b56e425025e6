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

// protocols are the streaming server's transports as kubectl and the kubelet use them:
// SPDY (remotecommand v1–v4, portforward.k8s.io), WebSocket v5 (kubectl's default
// since 1.31; port-forward as SPDY tunnelled in a WebSocket) and WebSocket with the
// v4 channel protocol (port-forward as its data and error channels).
var protocols = []string{"spdy", "websocket", "websocket-v4"}

// webSocketV4 is the WebSocket subprotocol of the "websocket-v4" tests.
const webSocketV4 = "v4.channel.k8s.io"

// executor is kubectl's client for a streaming URL (exec or attach) over proto.
func executor(t *testing.T, proto, rawURL string) remotecommand.Executor {
	t.Helper()
	return executorWith(t, proto, rawURL, &restclient.Config{})
}

// executorWith is executor with the client's configuration (TLS).
func executorWith(t *testing.T, proto, rawURL string, cfg *restclient.Config) remotecommand.Executor {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var ex remotecommand.Executor
	switch proto {
	case "spdy":
		ex, err = remotecommand.NewSPDYExecutor(cfg, "POST", u)
	case "websocket":
		ex, err = remotecommand.NewWebSocketExecutor(cfg, "GET", rawURL)
	default:
		ex, err = remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", rawURL, webSocketV4)
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

// forwarder starts kubectl's port-forward client on rawURL to remotePorts over proto
// ("spdy", or "websocket": SPDY tunnelled in a WebSocket) and returns the local ports
// and its stop.
func forwarder(t *testing.T, proto, rawURL string, remotePorts ...int) ([]int, func()) {
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
	return framework.StartPortForwards(t, dialer, remotePorts...)
}

// wsPortForward opens a port-forward to port over WebSocket with the v4 channel
// protocol (k8s.io/cri-streaming's: a data and an error channel per port, each opened
// by the port number in two bytes), sends request and returns what the pod sends back
// until it closes. client-go has no client for it: kubectl tunnels SPDY instead.
func wsPortForward(t *testing.T, rawURL string, port int, request string) []byte {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "ws"
	u.RawQuery = "port=" + strconv.Itoa(port)
	conn, _, err := (&websocket.Dialer{Subprotocols: []string{webSocketV4}}).Dial(u.String(), nil)
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
