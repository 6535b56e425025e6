//go:build e2e

// Package e2e drives the real dockercri binary against a real Docker Engine and real
// registries, through the kubelet's own CRI client. Run it with `make test` (as root).
package e2e

import (
	"testing"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

var env *framework.Env

func TestMain(m *testing.M) { framework.Main(m, "e2e", &env) }
