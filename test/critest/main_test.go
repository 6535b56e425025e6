//go:build critest

// Package critest runs the CRI validation suite of cri-tools (critest, built by `make
// critest`) against the real dockercri binary on a dockerd of the test's own, with the
// test's CNI network (bridge, firewall, portmap, loopback) and the suite's images built
// here and served under their real names by a local registry. Run it with `make
// critest` (as root).
package critest

import (
	"testing"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

var env *framework.Env

// CRITEST_BIN and CRICTL_BIN name the programs the tests run; make critest sets them.
func TestMain(m *testing.M) { framework.Main(m, "critest", &env, "CRITEST_BIN", "CRICTL_BIN") }
