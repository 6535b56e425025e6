//go:build kubelet

// Package kubelet runs the real kubelet (built from k8s.io/kubernetes by `make kubelet`)
// in standalone mode on the real dockercri binary, a dockerd of the tests' own and
// Debian's CNI plugins. Run it with `make e2e-kubelet` (as root).
package kubelet

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

var (
	env        *framework.Env
	kubeletBin string
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "kubelet e2e: must run as root")
		os.Exit(1)
	}
	if kubeletBin = os.Getenv("KUBELET_BIN"); kubeletBin == "" {
		fmt.Fprintln(os.Stderr, "kubelet e2e: KUBELET_BIN is not set; run `make e2e-kubelet`, which builds the kubelet")
		os.Exit(1)
	}
	e, err := framework.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet e2e setup:", err)
		os.Exit(1)
	}
	env = e
	code := m.Run()
	e.Teardown()
	os.Exit(code)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}
