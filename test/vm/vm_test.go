//go:build vm

package vm

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// TestNode goes through a node's life in order, on one dockercri that systemd runs:
// install, pods straight through the CRI, the real kubelet, restarts and stops of
// dockercri and Docker, upgrade and removal of the package.
func TestNode(t *testing.T) {
	if comm, err := os.ReadFile("/proc/1/comm"); err != nil || strings.TrimSpace(string(comm)) != "systemd" {
		t.Fatalf("PID 1 is %q (%v), want systemd", comm, err)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		t.Fatalf("no cgroup v2 at /sys/fs/cgroup: %v", err)
	}
	// The node's pod network, where the package's dockercri looks for it.
	n := env.NewCNINetwork(t)
	if err := os.WriteFile("/etc/cni/net.d/10-dcri-vm.conflist", []byte(n.Conflist()), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"package installed and socket-activated", installed},
		{"systemd cgroup driver", runtimeConfig},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.Fatalf("%s failed; the steps after it need what it leaves", s.name)
		}
	}
}

// installed: dpkg -i enables the units and starts the socket only; the first call
// starts dockercri, which systemd counts as started once it says READY (Type=notify).
func installed(t *testing.T) {
	run(t, "dpkg", "-i", filepath.Join(dir, "dockercri.deb"))
	if u := show(t, "dockercri.socket"); u.ActiveState != "active" || u.UnitFileState != "enabled" {
		t.Errorf("dockercri.socket after install: %+v, want active and enabled", u)
	}
	if u := show(t, "dockercri.service"); u.ActiveState != "inactive" || u.UnitFileState != "enabled" {
		t.Errorf("dockercri.service after install: %+v, want inactive (until the first call) and enabled", u)
	}
	if _, err := cri.Runtime(t).Version(ctx(t), ""); err != nil {
		t.Fatalf("Version on the activated socket: %v", err)
	}
	u := show(t, "dockercri.service")
	if u.ActiveState != "active" || u.SubState != "running" || u.MainPID == 0 {
		t.Fatalf("dockercri.service after the first call: %+v, want active, running", u)
	}
	if cg := cgroupOf(t, u.MainPID); cg != "/sys/fs/cgroup/system.slice/dockercri.service" {
		t.Errorf("dockercri runs in %s, want its unit's cgroup", cg)
	}
}

// runtimeConfig: the kubelet learns Docker's cgroup driver from dockercri.
func runtimeConfig(t *testing.T) {
	rt := cri.Runtime(t)
	rc, err := rt.RuntimeConfig(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := rc.GetLinux().GetCgroupDriver(); d != runtimeapi.CgroupDriver_SYSTEMD {
		t.Errorf("RuntimeConfig cgroup driver %v, want SYSTEMD", d)
	}
	if err := framework.WaitFor(slow, func() error { return ready(t) }); err != nil {
		t.Error(err)
	}
}

// ready is nil when dockercri's Status says the runtime and the network are ready.
func ready(t *testing.T) error {
	st, err := cri.Runtime(t).Status(ctx(t), false)
	if err != nil {
		return err
	}
	for _, c := range st.GetStatus().GetConditions() {
		if !c.Status {
			return fmt.Errorf("%s not ready: %s %s", c.Type, c.Reason, c.Message)
		}
	}
	return nil
}

// podSlice is the pod cgroup the kubelet makes with the systemd driver, as the path it
// sends as the pod's cgroup_parent (its cgroupfs form of the slice).
func podSlice(uid string) (parent, dir string) {
	uid = strings.ReplaceAll(uid, "-", "_") // systemd's escape of the slice name's separator
	parent = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid + ".slice"
	return parent, "/sys/fs/cgroup" + parent
}

// podCgroupsAndLimits: a pod's containers land under the pod's slice, their CPU and
// memory limits in cpu.max and memory.max, and UpdateContainerResources changes them.
func podCgroupsAndLimits(t *testing.T) {
	rt := cri.Runtime(t)
	cfg := env.SandboxConfig(t, "limits")
	parent, slice := podSlice(cfg.Metadata.Uid)
	cfg.Linux.CgroupParent = parent
	pod, err := rt.RunPodSandbox(ctx(t), cfg, "")
	if err != nil {
		t.Fatalf("RunPodSandbox with cgroup_parent %s: %v", parent, err)
	}
	t.Cleanup(func() {
		_ = rt.StopPodSandbox(ctx(t), pod)
		_ = rt.RemovePodSandbox(ctx(t), pod)
	})
	if cg := containerCgroup(t, pod); cg != slice+"/docker-"+pod+".scope" {
		t.Errorf("the pod's sandbox runs in %s, want %s/docker-%s.scope", cg, slice, pod)
	}
	cc := framework.ContainerConfig("limited", busybox, "exec sleep 100000")
	cc.Linux.Resources = &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512, MemoryLimitInBytes: 64 << 20}
	id := createStart(t, pod, cc, cfg)
	cg := containerCgroup(t, id)
	if cg != slice+"/docker-"+id+".scope" {
		t.Errorf("container runs in %s, want %s/docker-%s.scope", cg, slice, id)
	}
	if got := cgroupFile(t, cg, "cpu.max"); got != "50000 100000" {
		t.Errorf("cpu.max %q, want 50000 100000", got)
	}
	if got := cgroupFile(t, cg, "memory.max"); got != fmt.Sprint(64<<20) {
		t.Errorf("memory.max %q, want %d", got, 64<<20)
	}
	if err := rt.UpdateContainerResources(ctx(t), id, &runtimeapi.ContainerResources{Linux: &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 20000, CpuShares: 512, MemoryLimitInBytes: 128 << 20}}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	if got := cgroupFile(t, cg, "cpu.max"); got != "20000 100000" {
		t.Errorf("cpu.max after the update %q, want 20000 100000", got)
	}
	if got := cgroupFile(t, cg, "memory.max"); got != fmt.Sprint(128<<20) {
		t.Errorf("memory.max after the update %q, want %d", got, 128<<20)
	}
}

// createStart creates and starts a container in the pod and returns its id.
func createStart(t *testing.T, pod string, cc *runtimeapi.ContainerConfig, cfg *runtimeapi.PodSandboxConfig) string {
	t.Helper()
	rt := cri.Runtime(t)
	id, err := rt.CreateContainer(ctx(t), pod, cc, cfg)
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", cc.Metadata.Name, err)
	}
	if err := rt.StartContainer(ctx(t), id); err != nil {
		t.Fatalf("StartContainer %s: %v", cc.Metadata.Name, err)
	}
	return id
}

var (
	_ = url.QueryEscape
	_ = slices.Equal[[]string]
	_ = time.Second
	_ corev1.Pod
)
