package framework

import (
	"fmt"
	"os"
	"testing"
)

// Main runs the tests of a suite (m), the one `make target` runs: as root, with the
// shared Env set up into *env before them and torn down after them. Each variable in
// binaries must name a program the suite runs; the make target builds it and sets it.
func Main(m *testing.M, target string, env **Env, binaries ...string) {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "%s: must run as root (it installs packages, starts dockerd and registries)\n", target)
		os.Exit(1)
	}
	for _, v := range binaries {
		if os.Getenv(v) == "" {
			fmt.Fprintf(os.Stderr, "%s: %s is not set; run `make %s`, which builds it\n", target, v, target)
			os.Exit(1)
		}
	}
	e, err := Setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s setup: %v\n", target, err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	e.Teardown()
	os.Exit(code)
}
