package podmetrics

import (
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/stats"
)

func u(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

func samplePod() Pod {
	mem := &runtimeapi.MemoryUsage{UsageBytes: u(30 << 20), WorkingSetBytes: u(20 << 20), RssBytes: u(10 << 20), PageFaults: u(500), MajorPageFaults: u(3)}
	ctr := &runtimeapi.ContainerStats{
		Attributes:    &runtimeapi.ContainerAttributes{Id: "c1"},
		Cpu:           &runtimeapi.CpuUsage{UsageCoreNanoSeconds: u(2_700_000_000)},
		Memory:        mem,
		WritableLayer: &runtimeapi.FilesystemUsage{FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: "/var/lib/docker/overlay2"}, UsedBytes: u(4096), InodesUsed: u(2)},
	}
	return Pod{
		SandboxID: "s1",
		Cgroup:    Object{ID: "/kubepods/podu1", Namespace: "ns", Pod: "web"},
		Sandbox:   Object{Container: "POD", ID: "s1", Image: "pause", Name: "k8s_POD_web_ns_u1_0", Namespace: "ns", Pod: "web"},
		Stats: &runtimeapi.PodSandboxStats{Linux: &runtimeapi.LinuxPodSandboxStats{
			Cpu:        &runtimeapi.CpuUsage{UsageCoreNanoSeconds: u(5_100_000_000)},
			Memory:     mem,
			Process:    &runtimeapi.ProcessUsage{ProcessCount: u(4)},
			Network:    &runtimeapi.NetworkUsage{Interfaces: []*runtimeapi.NetworkInterfaceUsage{{Name: "eth0", RxBytes: u(1000), RxErrors: u(0), TxBytes: u(2000), TxErrors: u(1)}}},
			Containers: []*runtimeapi.ContainerStats{ctr},
		}},
		Containers: []Container{{
			Object: Object{Container: "app", ID: "c1", Image: "busybox", Name: "k8s_app_web_ns_u1_0", Namespace: "ns", Pod: "web"},
			Spec:   Spec{MemoryLimit: 64 << 20, CPUShares: 102, CPUPeriod: 100000, Started: time.Unix(1700000000, 0)},
			Stats:  ctr,
			IO:     []stats.DeviceIO{{Device: "/dev/vda", ReadBytes: 4096, WriteBytes: 16 << 20, Reads: 1, Writes: 40}},
		}},
		IO: []stats.DeviceIO{{Device: "/dev/vda", ReadBytes: 8192, WriteBytes: 32 << 20, Reads: 2, Writes: 80}},
	}
}

// Every metric sent must have been described, with as many label values as the
// descriptor has keys: the kubelet drops the rest (or errors on the count).
func TestEveryMetricIsDescribed(t *testing.T) {
	keys := map[string]int{}
	for _, d := range Descriptors() {
		keys[d.Name] = len(d.LabelKeys)
		if d.LabelKeys[0] != "container" || d.LabelKeys[5] != "pod" {
			t.Errorf("%s: label keys %v do not start with the base keys", d.Name, d.LabelKeys)
		}
	}
	pm := ForPod(samplePod(), time.Unix(1700000100, 0))
	all := append([]*runtimeapi.Metric(nil), pm.Metrics...)
	for _, cm := range pm.ContainerMetrics {
		all = append(all, cm.Metrics...)
	}
	if len(all) == 0 {
		t.Fatal("no metrics")
	}
	for _, m := range all {
		n, ok := keys[m.Name]
		if !ok {
			t.Errorf("%s: not in ListMetricDescriptors", m.Name)
		} else if len(m.LabelValues) != n {
			t.Errorf("%s: %d label values for %d keys: %v", m.Name, len(m.LabelValues), n, m.LabelValues)
		}
	}
}

func find(ms []*runtimeapi.Metric, name string, labels ...string) *runtimeapi.Metric {
next:
	for _, m := range ms {
		if m.Name != name {
			continue
		}
		for i, l := range labels {
			if l != "" && m.LabelValues[i] != l {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestValuesAndSeries(t *testing.T) {
	pm := ForPod(samplePod(), time.Unix(1700000100, 0))
	if pm.PodSandboxId != "s1" || len(pm.ContainerMetrics) != 1 || pm.ContainerMetrics[0].ContainerId != "c1" {
		t.Fatalf("pod metrics ids: %+v", pm)
	}
	ctr := pm.ContainerMetrics[0].Metrics
	cases := []struct {
		ms     []*runtimeapi.Metric
		name   string
		labels []string
		want   uint64
		typ    runtimeapi.MetricType
	}{
		// Seconds are whole seconds (2.7 s → 2).
		{ctr, "container_cpu_usage_seconds_total", []string{"app", "c1", "busybox", "k8s_app_web_ns_u1_0", "ns", "web", "total"}, 2, counter},
		{ctr, "container_memory_working_set_bytes", []string{"app"}, 20 << 20, gauge},
		{ctr, "container_memory_usage_bytes", []string{"app"}, 30 << 20, gauge},
		{ctr, "container_memory_rss", []string{"app"}, 10 << 20, gauge},
		{ctr, "container_memory_failures_total", []string{"app", "", "", "", "", "", "pgmajfault", "container"}, 3, counter},
		{ctr, "container_fs_usage_bytes", []string{"app", "", "", "", "", "", "/var/lib/docker/overlay2"}, 4096, gauge},
		// Block IO per device, as cAdvisor's series.
		{ctr, "container_fs_writes_bytes_total", []string{"app", "", "", "", "", "", "/dev/vda"}, 16 << 20, counter},
		{ctr, "container_fs_reads_bytes_total", []string{"app", "", "", "", "", "", "/dev/vda"}, 4096, counter},
		{ctr, "container_fs_writes_total", []string{"app", "", "", "", "", "", "/dev/vda"}, 40, counter},
		{ctr, "container_fs_reads_total", []string{"app", "", "", "", "", "", "/dev/vda"}, 1, counter},
		{ctr, "container_spec_memory_limit_bytes", []string{"app"}, 64 << 20, gauge},
		{ctr, "container_spec_cpu_shares", []string{"app"}, 102, gauge},
		{ctr, "container_spec_cpu_period", []string{"app"}, 100000, gauge},
		{ctr, "container_start_time_seconds", []string{"app"}, 1700000000, gauge},
		{ctr, "container_last_seen", []string{"app"}, 1700000100, gauge},
		// The pod cgroup: container, image and name empty, id its path.
		{pm.Metrics, "container_cpu_usage_seconds_total", []string{"", "/kubepods/podu1", "", "", "ns", "web", "total"}, 5, counter},
		{pm.Metrics, "container_processes", []string{""}, 4, gauge},
		{pm.Metrics, "container_fs_writes_bytes_total", []string{"", "/kubepods/podu1", "", "", "ns", "web", "/dev/vda"}, 32 << 20, counter},
		// The network belongs to the sandbox (container="POD").
		{pm.Metrics, "container_network_receive_bytes_total", []string{"POD", "s1", "pause", "k8s_POD_web_ns_u1_0", "ns", "web", "eth0"}, 1000, counter},
		{pm.Metrics, "container_network_transmit_bytes_total", []string{"POD", "", "", "", "", "", "eth0"}, 2000, counter},
		{pm.Metrics, "container_network_transmit_errors_total", []string{"POD", "", "", "", "", "", "eth0"}, 1, counter},
	}
	for _, c := range cases {
		m := find(c.ms, c.name, c.labels...)
		if m == nil {
			t.Errorf("%s%v: missing", c.name, c.labels)
			continue
		}
		if m.Value.GetValue() != c.want || m.MetricType != c.typ {
			t.Errorf("%s%v = %d (%v), want %d (%v)", c.name, c.labels, m.Value.GetValue(), m.MetricType, c.want, c.typ)
		}
	}
	// No quota set: no quota series, as cAdvisor.
	if m := find(ctr, "container_spec_cpu_quota"); m != nil {
		t.Errorf("quota series without a quota: %v", m)
	}
	// No network series for containers: they share the sandbox's.
	if m := find(ctr, "container_network_receive_bytes_total"); m != nil {
		t.Errorf("network series on a container: %v", m)
	}
}

// A pod whose stats could not be read (it stopped between list and read) gives no
// series rather than zeros or a panic.
func TestMissingStats(t *testing.T) {
	p := samplePod()
	p.Stats, p.IO = &runtimeapi.PodSandboxStats{}, nil
	p.Containers[0].Stats, p.Containers[0].IO = &runtimeapi.ContainerStats{}, nil
	pm := ForPod(p, time.Unix(1, 0))
	for _, m := range pm.Metrics {
		if m.Name != "container_last_seen" {
			t.Errorf("pod series from no stats: %v", m)
		}
	}
	if find(pm.ContainerMetrics[0].Metrics, "container_cpu_usage_seconds_total") != nil {
		t.Error("cpu series from no stats")
	}
}
