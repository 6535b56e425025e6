//go:build tools

// Package cridockerd pins the cri-dockerd release the migration scenario of the VM suite
// (test/vm) moves a node from: built unmodified from the Go module proxy with the replace
// directives of its own go.mod (make cri-dockerd).
package cridockerd

import (
	_ "github.com/Mirantis/cri-dockerd"
)
