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
	locals, stop := StartPortForwards(t, dialer, port)
	return locals[0], stop
}

// StartPortForwards is StartPortForward for several of the pod's ports in one session:
// the local ports in their order.
func StartPortForwards(t testing.TB, dialer httpstream.Dialer, ports ...int) ([]int, func()) {
	t.Helper()
	specs := make([]string, len(ports))
	for i, p := range ports {
		specs[i] = "0:" + strconv.Itoa(p)
	}
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, specs, stop, ready, io.Discard, io.Discard)
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
	forwarded, err := fw.GetPorts()
	if err != nil || len(forwarded) != len(ports) {
		t.Fatalf("port-forward ports: %v, %v", forwarded, err)
	}
	locals := make([]int, len(forwarded))
	for i, f := range forwarded {
		locals[i] = int(f.Local)
	}
	return locals, stopFn
}
