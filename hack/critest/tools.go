//go:build tools

// Package critest pins the cri-tools release whose CRI validation suite (critest) `make
// critest` runs against dockercri, and whose crictl `make crictl` builds: both from
// sigs.k8s.io/cri-tools, as the module proxy serves it.
package critest

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
	_ "sigs.k8s.io/cri-tools/cmd/critest"
)
