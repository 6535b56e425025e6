//go:build tools

// Package kubeletdockershim pins the last kubelet with dockershim built in
// (Kubernetes 1.23, --container-runtime=docker), which the node VM's migration
// test (test/vm) runs as the old runtime a node moves from to dockercri.
package kubeletdockershim

import (
	_ "k8s.io/kubernetes/cmd/kubelet"
)
