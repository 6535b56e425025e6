//go:build kubelet

// Package kubelet runs the real kubelet (built from k8s.io/kubernetes by `make kubelet`)
// in standalone mode on the real dockercri binary, a dockerd of the tests' own and
// Debian's CNI plugins. Run it with `make e2e-kubelet` (as root).
package kubelet

import (
	"context"
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
	kubeletBin = os.Getenv("KUBELET_BIN")
	framework.Main(m, "e2e-kubelet", &env, "KUBELET_BIN")
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}
