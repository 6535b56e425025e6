package framework

import (
	"io"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
)

// StartPortForward runs kubectl's port-forward client over dialer to the pod's port on a
// free local port of 127.0.0.1 and returns that port, and a stop (also run at the end
// of the test) that waits for the forwarder to end.
func StartPortForward(t testing.TB, dialer httpstream.Dialer, port int) (int, func()) {
	t.Helper()
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	}
	stopped := false
	stopFn := func() {
		if !stopped {
			stopped = true
			close(stop)
			<-errc
		}
	}
	t.Cleanup(stopFn)
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("port-forward ports: %v, %v", ports, err)
	}
	return int(ports[0].Local), stopFn
}
