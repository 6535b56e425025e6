//go:build vm

package vm

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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
	// The pod the steps before the kubelet's make straight through the CRI, removed after them.
	direct.cfg = env.SandboxConfig(t, "direct")
	kubelet = newKubelet(t)
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"package installed and socket-activated", installed},
		{"systemd cgroup driver", runtimeConfig},
		{"pod cgroups and limits", podCgroupsAndLimits},
		{"OOMKilled", oomKilled},
		{"stats from the v2 files", statsAgree},
		{"the kubelet", kubeletRuns},
		{"systemctl restart dockercri", restarted},
		{"systemctl stop dockercri.socket dockercri", stoppedAndActivated},
		{"package upgraded", upgraded},
		{"systemctl stop docker", dockerStopped},
		{"package removed", removed},
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

// ready is nil when dockercri's Status says the runtime and the network are ready. It
// asks on a connection of its own, without the kubelet's client, which asks Version
// first (and Version needs Docker's).
func ready(t *testing.T) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	st, err := runtimeapi.NewRuntimeServiceClient(conn).Status(ctx(t), &runtimeapi.StatusRequest{})
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
	cfg := direct.cfg
	parent, slice := podSlice(cfg.Metadata.Uid)
	cfg.Linux.CgroupParent = parent
	pod, err := rt.RunPodSandbox(ctx(t), cfg, "")
	if err != nil {
		t.Fatalf("RunPodSandbox with cgroup_parent %s: %v", parent, err)
	}
	direct.id, direct.slice = pod, slice
	if cg := containerCgroup(t, pod); cg != slice+"/docker-"+pod+".scope" {
		t.Errorf("the pod's sandbox runs in %s, want %s/docker-%s.scope", cg, slice, pod)
	}
	cc := framework.ContainerConfig("limited", busybox, "exec sleep 100000")
	// With the unified resources the kubelet sends on cgroup v2, and a memory.high.
	cc.Linux.Resources = &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512, MemoryLimitInBytes: 64 << 20,
		Unified: map[string]string{"memory.oom.group": "1", "memory.swap.max": "0", "memory.min": "0", "memory.low": "0", "memory.high": fmt.Sprint(48 << 20)}}
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
	for file, want := range map[string]string{"memory.oom.group": "1", "memory.swap.max": "0", "memory.high": fmt.Sprint(48 << 20)} {
		if got := cgroupFile(t, cg, file); got != want {
			t.Errorf("%s %q, want %s (unified)", file, got, want)
		}
	}
	if err := rt.UpdateContainerResources(ctx(t), id, &runtimeapi.ContainerResources{Linux: &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 20000, CpuShares: 512, MemoryLimitInBytes: 128 << 20,
		Unified: map[string]string{"memory.high": "max"}}}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	if got := cgroupFile(t, cg, "cpu.max"); got != "20000 100000" {
		t.Errorf("cpu.max after the update %q, want 20000 100000", got)
	}
	if got := cgroupFile(t, cg, "memory.max"); got != fmt.Sprint(128<<20) {
		t.Errorf("memory.max after the update %q, want %d", got, 128<<20)
	}
	if got := cgroupFile(t, cg, "memory.high"); got != "max" {
		t.Errorf("memory.high after the update %q, want max", got)
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

// direct is the pod made straight through the CRI: its config, id and slice directory.
var direct struct {
	cfg       *runtimeapi.PodSandboxConfig
	id, slice string
}

// oomKilled: a container over its memory limit is killed by the kernel, and
// ContainerStatus says OOMKilled, as memory.events of the pod's slice counts.
func oomKilled(t *testing.T) {
	rt := cri.Runtime(t)
	cc := framework.ContainerConfig("oom", busybox, "dd if=/dev/zero of=/dev/null bs=128M count=1")
	cc.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 32 << 20}
	before := statValue(t, direct.slice, "memory.events", "oom_kill")
	id := createStart(t, direct.id, cc, direct.cfg)
	var st *runtimeapi.ContainerStatus
	if err := framework.WaitFor(slow, func() error {
		resp, err := rt.ContainerStatus(ctx(t), id, false)
		if err != nil {
			return err
		}
		if st = resp.GetStatus(); st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.Reason != "OOMKilled" {
			return fmt.Errorf("container oom: %v, exit %d, reason %q", st.State, st.ExitCode, st.Reason)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 137 {
		t.Errorf("OOMKilled container exit code %d, want 137", st.ExitCode)
	}
	if after := statValue(t, direct.slice, "memory.events", "oom_kill"); after <= before {
		t.Errorf("memory.events oom_kill of the pod's slice %d → %d: the kernel counted no OOM kill", before, after)
	}
}

// statsAgree: ContainerStats, ListPodSandboxStats and ListPodSandboxMetrics say what the
// v2 files of the container's and the pod's cgroups say: CPU time, memory working set
// (memory.current less inactive_file) and process count, each read before and after the
// call and the answer between the two.
func statsAgree(t *testing.T) {
	rt := cri.Runtime(t)
	// 16 MiB written to disk (and in the page cache), two more processes, then quiet.
	cc := framework.ContainerConfig("busy", busybox, "dd if=/dev/urandom of=/tmp/blob bs=1M count=16 conv=fsync 2>/dev/null; sleep 100000 & sleep 100000 & exec sleep 100000")
	id := createStart(t, direct.id, cc, direct.cfg)
	cg := containerCgroup(t, id)
	if err := framework.WaitFor(slow, func() error {
		if n := cgroupUint(t, cg, "pids.current"); n != 3 {
			return fmt.Errorf("container busy has %d processes, want 3", n)
		}
		if w := ioWritten(t, cg); w < 16<<20 {
			return fmt.Errorf("container busy has written %d bytes (io.stat), want 16 MiB", w)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	read := func(dir string) sample {
		return sample{
			cpu:        statValue(t, dir, "cpu.stat", "usage_usec") * 1000,
			workingSet: subFloor(cgroupUint(t, dir, "memory.current"), statValue(t, dir, "memory.stat", "inactive_file")),
			pids:       cgroupUint(t, dir, "pids.current"),
			written:    ioWritten(t, dir),
		}
	}
	// Each check retries: memory moves by a page now and then even in a quiet cgroup.
	check := func(what string, dir string, call func() (sample, error)) {
		t.Helper()
		if err := framework.WaitFor(slow, func() error {
			before := read(dir)
			got, err := call()
			if err != nil {
				return err
			}
			after := read(dir)
			return got.between(before, after)
		}); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	check("ContainerStats", cg, func() (sample, error) {
		st, err := rt.ContainerStats(ctx(t), id)
		if err != nil {
			return sample{}, err
		}
		return sample{cpu: st.GetCpu().GetUsageCoreNanoSeconds().GetValue(), workingSet: st.GetMemory().GetWorkingSetBytes().GetValue(), pids: none, written: none}, nil
	})
	check("ListPodSandboxStats", direct.slice, func() (sample, error) {
		list, err := rt.ListPodSandboxStats(ctx(t), &runtimeapi.PodSandboxStatsFilter{Id: direct.id})
		if err != nil || len(list) != 1 {
			return sample{}, fmt.Errorf("%d pods, %v", len(list), err)
		}
		l := list[0].GetLinux()
		return sample{cpu: l.GetCpu().GetUsageCoreNanoSeconds().GetValue(), workingSet: l.GetMemory().GetWorkingSetBytes().GetValue(), pids: l.GetProcess().GetProcessCount().GetValue(), written: none}, nil
	})
	check("ListPodSandboxMetrics, container busy", cg, func() (sample, error) {
		m, err := podMetrics(t, direct.id, id)
		return sample{cpu: m["container_cpu_usage_seconds_total"] * 1e9, workingSet: m["container_memory_working_set_bytes"], pids: none, written: m["container_fs_writes_bytes_total"], cpuSeconds: true}, err
	})
	check("ListPodSandboxMetrics, the pod's cgroup", direct.slice, func() (sample, error) {
		m, err := podMetrics(t, direct.id, "")
		return sample{cpu: m["container_cpu_usage_seconds_total"] * 1e9, workingSet: m["container_memory_working_set_bytes"], pids: m["container_processes"], written: m["container_fs_writes_bytes_total"], cpuSeconds: true}, err
	})
	if t.Failed() {
		for _, f := range []string{"cpu.stat", "memory.stat", "memory.current", "pids.current", "io.stat"} {
			t.Logf("%s of container busy:\n%s", f, cgroupFile(t, cg, f))
		}
	}
}

// none: the answer has no such value to compare (the CRI's stats have no block IO,
// a container's no process count).
const none = ^uint64(0)

// sample is CPU time (ns), working set (bytes), processes and bytes written to block
// devices, from the files or an answer.
type sample struct {
	cpu, workingSet, pids, written uint64
	// cpuSeconds: the answer's CPU time is whole seconds (the metrics' unit).
	cpuSeconds bool
}

func (got sample) between(before, after sample) error {
	lo, hi := before.cpu, after.cpu
	if got.cpuSeconds {
		lo, hi = lo/1e9*1e9, hi/1e9*1e9
	}
	if got.cpu < lo || got.cpu > hi {
		return fmt.Errorf("CPU %d ns, the files %d and %d around the call", got.cpu, before.cpu, after.cpu)
	}
	if lo, hi := min(before.workingSet, after.workingSet), max(before.workingSet, after.workingSet); got.workingSet < lo || got.workingSet > hi {
		return fmt.Errorf("working set %d, the files %d and %d around the call", got.workingSet, before.workingSet, after.workingSet)
	}
	if got.pids != none && (before.pids != after.pids || got.pids != before.pids) {
		return fmt.Errorf("%d processes, pids.current %d and %d around the call", got.pids, before.pids, after.pids)
	}
	if got.written != none && (got.written < before.written || got.written > after.written) {
		return fmt.Errorf("%d bytes written, io.stat %d and %d around the call", got.written, before.written, after.written)
	}
	return nil
}

// ioWritten is the bytes a cgroup wrote to all devices, from io.stat.
func ioWritten(t *testing.T, dir string) uint64 {
	t.Helper()
	var sum uint64
	for _, line := range strings.Split(cgroupFile(t, dir, "io.stat"), "\n") {
		for _, kv := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(kv, "wbytes="); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatalf("%s/io.stat: %q", dir, line)
				}
				sum += n
			}
		}
	}
	return sum
}

func subFloor(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// podMetrics are the values of ListPodSandboxMetrics for the pod's container (id), or
// for the pod's cgroup (id ""), by metric name; the block IO series (per device) added up.
func podMetrics(t *testing.T, pod, id string) (map[string]uint64, error) {
	resp, err := cri.Runtime(t).ListPodSandboxMetrics(ctx(t))
	if err != nil {
		return nil, err
	}
	for _, pm := range resp {
		if pm.PodSandboxId != pod {
			continue
		}
		metrics := pm.Metrics
		if id != "" {
			metrics = nil
			for _, cm := range pm.ContainerMetrics {
				if cm.ContainerId == id {
					metrics = cm.Metrics
				}
			}
		}
		out := map[string]uint64{}
		for _, m := range metrics {
			// The pod cgroup's series have container="" (the sandbox's "POD").
			if id == "" && m.LabelValues[0] != "" {
				continue
			}
			if strings.HasPrefix(m.Name, "container_fs_") && m.Name != "container_fs_usage_bytes" {
				out[m.Name] += m.Value.GetValue()
			} else {
				out[m.Name] = m.Value.GetValue()
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no metrics for %q in pod %s", id, pod)
		}
		return out, nil
	}
	return nil, fmt.Errorf("pod %s not in ListPodSandboxMetrics", pod)
}
