//go:build tools

// Package kubelet pins the kubelet the real-kubelet e2e tests build
// (make e2e-kubelet): k8s.io/kubernetes with its staging modules at the
// matching v0 release, as the module proxy serves them.
package kubelet

import _ "k8s.io/kubernetes/cmd/kubelet"
