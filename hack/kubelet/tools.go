//go:build tools

// Package kubelet pins the kubelet the real-kubelet e2e tests build (make
// e2e-kubelet) and the node e2e suite of the same release with the ginkgo
// command that runs it in parallel (make e2e-node): k8s.io/kubernetes with its
// staging modules at the matching v0 release, as the module proxy serves them.
package kubelet

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/test/e2e_node"
	_ "k8s.io/kubernetes/test/images/agnhost"
)
