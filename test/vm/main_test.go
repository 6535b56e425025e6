//go:build vm

// Package vm runs in the test VM that `make e2e-node-vm` boots (hack/vm/run.sh): a Debian
// 12 node on cgroup v2 with systemd as init and Docker on the systemd cgroup driver, on
// which dockercri is installed from its .deb and started by systemd (socket activation),
// as kubeadm's nodes run. Beside the test binary (in its directory) are the packages it
// installs, dockercri.deb and the newer dockercri-next.deb, the kubelet, and the 1.23
// kubelet with dockershim built in (kubelet-dockershim) that a node moves from.
package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Emulation runs this machine ten times slower than a node, or worse: every wait is
// sized for that.
const (
	slow     = 3 * time.Minute
	slowCall = 5 * time.Minute
)

var (
	env *framework.Env
	// dir holds the test binary and what it installs.
	dir     string
	busybox string
	docker  *client.Client
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 || !isVM() {
		fmt.Fprintln(os.Stderr, "vm: runs as root in the test VM only (make e2e-node-vm boots it)")
		os.Exit(1)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vm:", err)
		os.Exit(1)
	}
	dir = filepath.Dir(exe)
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "vm setup:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(env.Tmp)
	os.Exit(code)
}

// isVM: the VM's hostname, which hack/vm/image.sh sets; never a developer's machine, whose
// packages and units this suite would change.
func isVM() bool {
	b, _ := os.ReadFile("/etc/hostname")
	return strings.TrimSpace(string(b)) == "dcri-vm"
}

// setup waits for the node's Docker (systemd starts it at boot) and imports the busybox
// test image into it: the VM has no network, and so no registry.
func setup() error {
	tmp, err := os.MkdirTemp("", "dcri-vm-")
	if err != nil {
		return err
	}
	env = &framework.Env{Root: dir, Tmp: tmp, Prefix: "dcri-vm"}
	if docker, err = client.NewClientWithOpts(client.WithHost(framework.HostDockerEndpoint), client.WithAPIVersionNegotiation()); err != nil {
		return err
	}
	env.Docker = &framework.Dockerd{Endpoint: framework.HostDockerEndpoint, Client: docker}
	if err := framework.WaitFor(slow, func() error { return env.Docker.Ping(context.Background()) }); err != nil {
		return fmt.Errorf("the node's Docker: %w", err)
	}
	rootfs, err := framework.RootFS(nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), slowCall)
	defer cancel()
	busybox = "dcri-vm/busybox:1"
	_, err = framework.ImportImage(ctx, docker, rootfs, busybox, `CMD ["/bin/sh"]`)
	env.Busybox = busybox
	return err
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), slowCall)
	t.Cleanup(cancel)
	return c
}
