//go:build e2e

// Package e2e drives the real dockercri binary against a real Docker Engine and real
// registries, through the kubelet's own CRI client. Run it with `make test` (as root).
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

var env *framework.Env

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: must run as root (it installs packages, starts dockerd and registries)")
		os.Exit(1)
	}
	e, err := framework.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	env = e
	code := m.Run()
	e.Teardown()
	os.Exit(code)
}
