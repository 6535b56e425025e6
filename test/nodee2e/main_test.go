//go:build nodee2e

// Package nodee2e runs the Kubernetes node e2e suite (test/e2e_node of the release
// hack/kubelet pins, built by `make e2e-node`) against the real kubelet on the real
// dockercri binary: the suite starts its own etcd, API server and kubelet; dockercri
// runs on a dockerd of the test's own with the test's CNI network (bridge with
// masquerading, firewall, portmap, loopback) and the suite's images, built here and
// served under their real names by a local registry. Run it with `make e2e-node`
// (as root).
package nodee2e

import (
	"testing"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

var env *framework.Env

// E2E_NODE_BIN, GINKGO_BIN, KUBELET_BIN and AGNHOST_BIN name the programs the test
// runs or puts into images; make e2e-node builds them and sets them.
func TestMain(m *testing.M) {
	framework.Main(m, "e2e-node", &env, "E2E_NODE_BIN", "GINKGO_BIN", "KUBELET_BIN", "AGNHOST_BIN")
}
