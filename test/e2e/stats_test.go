//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// cgroupFile reads a cgroup v1 file of the container's process, as the test sees it.
func cgroupFile(t *testing.T, containerID, controller, file string) uint64 {
	t.Helper()
	insp, err := env.Docker.Client.ContainerInspect(ctx(t), containerID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", insp.State.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ","+controller+",") {
			v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, parts[2], file))
			if err != nil {
				t.Fatal(err)
			}
			n, err := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skipf("probe: no cgroup v1 %s controller for the container (cgroup v2 host?): %s", controller, b)
	return 0
}

// Stats come from the kernel: a known memory allocation shows in the working set, CPU
// usage in nanocores between two calls, the numbers agree with the cgroup files, and the
// pod's stats cover its containers; filters are honoured.
func TestStatsFromCgroups(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))
	parent := "/" + env.Prefix + "-stats"
	t.Cleanup(func() { framework.RemoveCgroup(t, parent) })
	cfg := env.SandboxConfig(t, "stats")
	cfg.Linux.CgroupParent = parent
	p := runPod(t, rt, cfg)
	const fill = 50 << 20
	mem := p.start(t, framework.ContainerConfig("mem", ref, fmt.Sprintf("head -c %d /dev/zero > /dev/shm/fill && echo filled && exec sleep 3600", fill)))
	busy := p.start(t, framework.ContainerConfig("busy", ref, "while :; do :; done"))
	if err := framework.WaitFor(30*time.Second, func() error {
		b, _ := os.ReadFile(p.logPath(framework.ContainerConfig("mem", ref, "")))
		if !strings.Contains(string(b), "filled") {
			return fmt.Errorf("not filled yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	st, err := rt.ContainerStats(ctx(t), mem)
	if err != nil {
		t.Fatal(err)
	}
	ws := st.GetMemory().GetWorkingSetBytes().GetValue()
	if ws < fill || ws > fill+24<<20 {
		t.Errorf("working set %d after writing %d bytes to tmpfs", ws, fill)
	}
	if got, want := st.GetMemory().GetUsageBytes().GetValue(), cgroupFile(t, mem, "memory", "memory.usage_in_bytes"); absDiff(got, want) > 4<<20 {
		t.Errorf("memory usage %d, the cgroup file says %d", got, want)
	}
	if st.GetAttributes().GetMetadata().GetName() != "mem" || st.GetWritableLayer().GetInodesUsed() == nil {
		t.Errorf("attributes or writable layer: %v %v", st.GetAttributes(), st.GetWritableLayer())
	}

	first, err := rt.ContainerStats(ctx(t), busy)
	if err != nil {
		t.Fatal(err)
	}
	// The next sample after which the busy loop has run (how much CPU it gets depends on
	// what else the machine does, so none is asked for); the rate is against the
	// sample just before.
	var second *runtimeapi.ContainerStats
	if err := framework.WaitFor(30*time.Second, func() error {
		s, err := rt.ContainerStats(ctx(t), busy)
		if err != nil {
			return err
		}
		if s.GetCpu().GetUsageCoreNanoSeconds().GetValue() == first.GetCpu().GetUsageCoreNanoSeconds().GetValue() || s.GetCpu().GetUsageNanoCores() == nil {
			first = s
			return fmt.Errorf("the busy loop has not run between two samples yet")
		}
		second = s
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The rate is the CPU time between the two samples over the time between them.
	c1, c2 := first.GetCpu(), second.GetCpu()
	rate := (c2.GetUsageCoreNanoSeconds().GetValue() - c1.GetUsageCoreNanoSeconds().GetValue()) * 1e9 / uint64(c2.GetTimestamp()-c1.GetTimestamp())
	if n := c2.GetUsageNanoCores().GetValue(); n != rate {
		t.Errorf("a busy loop uses %d nanocores; its samples say %d", n, rate)
	}
	if got, want := second.GetCpu().GetUsageCoreNanoSeconds().GetValue(), cgroupFile(t, busy, "cpuacct", "cpuacct.usage"); got > want || want-got > 5e8 {
		t.Errorf("CPU time %d, the cgroup file says %d", got, want)
	}
	if first.GetCpu().GetUsageCoreNanoSeconds().GetValue() >= second.GetCpu().GetUsageCoreNanoSeconds().GetValue() {
		t.Error("CPU time did not grow")
	}

	list, err := rt.ListContainerStats(ctx(t), &runtimeapi.ContainerStatsFilter{PodSandboxId: p.id})
	if err != nil || len(list) != 2 {
		t.Errorf("ListContainerStats of the pod: %d, %v", len(list), err)
	}
	list, err = rt.ListContainerStats(ctx(t), &runtimeapi.ContainerStatsFilter{Id: mem[:12]})
	if err != nil || len(list) != 1 || list[0].GetAttributes().GetId() != mem {
		t.Errorf("ListContainerStats by id prefix: %v, %v", list, err)
	}
	list, err = rt.ListContainerStats(ctx(t), &runtimeapi.ContainerStatsFilter{PodSandboxId: p.id, LabelSelector: map[string]string{"io.kubernetes.container.name": "busy"}})
	if err != nil || len(list) != 1 || list[0].GetAttributes().GetId() != busy {
		t.Errorf("ListContainerStats by label: %v, %v", list, err)
	}

	ps, err := rt.PodSandboxStats(ctx(t), p.id)
	if err != nil {
		t.Fatal(err)
	}
	if ws := ps.GetLinux().GetMemory().GetWorkingSetBytes().GetValue(); ws < fill {
		t.Errorf("pod working set %d, below its container's %d", ws, fill)
	}
	if n := ps.GetLinux().GetProcess().GetProcessCount().GetValue(); n < 3 {
		t.Errorf("pod process count %d, want at least pause, sleep and sh", n)
	}
	if len(ps.GetLinux().GetContainers()) != 2 || ps.GetLinux().GetCpu().GetUsageCoreNanoSeconds().GetValue() < second.GetCpu().GetUsageCoreNanoSeconds().GetValue() {
		t.Errorf("pod stats do not cover the containers: %v", ps.GetLinux())
	}
	pods, err := rt.ListPodSandboxStats(ctx(t), &runtimeapi.PodSandboxStatsFilter{Id: p.id})
	if err != nil || len(pods) != 1 {
		t.Errorf("ListPodSandboxStats by id: %d, %v", len(pods), err)
	}

	// The Stream* RPCs answer what their List counterparts do.
	raw, _ := d.Raw(t)
	cs, err := raw.StreamContainerStats(ctx(t), &runtimeapi.StreamContainerStatsRequest{Filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: p.id}})
	if err != nil {
		t.Fatal(err)
	}
	if n := streamed(t, func() (int, error) { r, err := cs.Recv(); return len(r.GetContainerStats()), err }); n != 2 {
		t.Errorf("StreamContainerStats sent %d stats, want 2", n)
	}
	cl, err := raw.StreamContainers(ctx(t), &runtimeapi.StreamContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: p.id}})
	if err != nil {
		t.Fatal(err)
	}
	if n := streamed(t, func() (int, error) { r, err := cl.Recv(); return len(r.GetContainers()), err }); n != 2 {
		t.Errorf("StreamContainers sent %d containers, want 2", n)
	}
	checkPodMetrics(t, raw, p.id, mem, busy, fill)
	if _, err := raw.UpdatePodSandboxResources(ctx(t), &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: p.id}); err != nil {
		t.Errorf("UpdatePodSandboxResources: %v", err)
	}
}

// checkPodMetrics checks ListPodSandboxMetrics against the same readings as the stats
// RPCs, under the names and labels of ListMetricDescriptors.
func checkPodMetrics(t *testing.T, raw runtimeapi.RuntimeServiceClient, podID, mem, busy string, fill uint64) {
	t.Helper()
	descs, err := raw.ListMetricDescriptors(ctx(t), &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, d := range descs.GetDescriptors() {
		keys[d.Name] = d.LabelKeys
	}
	busyStats, err := raw.ContainerStats(ctx(t), &runtimeapi.ContainerStatsRequest{ContainerId: busy})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := raw.ListPodSandboxMetrics(ctx(t), &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var pod *runtimeapi.PodSandboxMetrics
	for _, pm := range resp.GetPodMetrics() {
		if pm.PodSandboxId == podID {
			pod = pm
		}
	}
	if pod == nil {
		t.Fatalf("pod %s not in ListPodSandboxMetrics", podID)
	}
	// value finds a series by name and the value of its "container" label.
	value := func(ms []*runtimeapi.Metric, name, ctr string) (uint64, bool) {
		for _, m := range ms {
			k := keys[m.Name]
			if len(k) != len(m.LabelValues) {
				t.Errorf("%s: label values %v for keys %v", m.Name, m.LabelValues, k)
				continue
			}
			if m.Name == name && m.LabelValues[0] == ctr {
				return m.Value.GetValue(), true
			}
		}
		return 0, false
	}
	byID := map[string][]*runtimeapi.Metric{}
	for _, cm := range pod.ContainerMetrics {
		byID[cm.ContainerId] = cm.Metrics
	}
	if ws, ok := value(byID[mem], "container_memory_working_set_bytes", "mem"); !ok || ws < fill {
		t.Errorf("container_memory_working_set_bytes of mem: %d (%v), want at least %d", ws, ok, fill)
	}
	// Whole seconds, read a moment after the stats.
	if cpu, ok := value(byID[busy], "container_cpu_usage_seconds_total", "busy"); !ok || cpu < busyStats.GetStats().GetCpu().GetUsageCoreNanoSeconds().GetValue()/1e9 {
		t.Errorf("container_cpu_usage_seconds_total of busy: %d (%v), stats say %d ns", cpu, ok, busyStats.GetStats().GetCpu().GetUsageCoreNanoSeconds().GetValue())
	}
	if ws, ok := value(pod.Metrics, "container_memory_working_set_bytes", ""); !ok || ws < fill {
		t.Errorf("pod cgroup working set: %d (%v)", ws, ok)
	}
	if _, ok := value(pod.Metrics, "container_last_seen", "POD"); !ok {
		t.Error("no sandbox series")
	}
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// streamed counts the items of a server stream until it ends.
func streamed(t *testing.T, recv func() (int, error)) int {
	t.Helper()
	total := 0
	for {
		n, err := recv()
		if err == io.EOF {
			return total
		}
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		total += n
	}
}
