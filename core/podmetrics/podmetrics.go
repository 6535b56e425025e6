// Package podmetrics turns CRI stats into the cAdvisor-named metrics of
// ListPodSandboxMetrics, for a kubelet with PodAndContainerStatsFromCRI, which serves
// them on /metrics/cadvisor instead of asking cAdvisor.
//
// The label keys are those cAdvisor's series carried through the kubelet (container,
// id, image, name, namespace, pod), so dashboards written for them keep working. As
// under dockershim, a pod has three kinds of series: its containers (container=<name>),
// its pod cgroup (container="", name="", image="") and its sandbox (container="POD",
// the pause container, which holds the pod's network).
package podmetrics

import (
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/stats"
)

// Object is what a series is about: the values of the base labels.
type Object struct {
	Container, ID, Image, Name, Namespace, Pod string
}

func (o Object) values() []string {
	return []string{o.Container, o.ID, o.Image, o.Name, o.Namespace, o.Pod}
}

var baseKeys = []string{"container", "id", "image", "name", "namespace", "pod"}

// Spec is a container's configured limits and start, for the container_spec_* and
// container_start_time_seconds series.
type Spec struct {
	MemoryLimit, CPUShares, CPUQuota, CPUPeriod uint64
	Started                                     time.Time
}

// Container is one running container of a pod, with its stats.
type Container struct {
	Object
	Spec
	Stats *runtimeapi.ContainerStats
	// IO is the container's block IO per device (the CRI's stats have none).
	IO []stats.DeviceIO
}

// Pod is one running pod: its stats (pod cgroup and network) and its containers.
type Pod struct {
	SandboxID string
	// Cgroup names the pod cgroup's series, Sandbox the pause container's.
	Cgroup, Sandbox Object
	Stats           *runtimeapi.PodSandboxStats
	// IO is the pod cgroup's block IO per device.
	IO         []stats.DeviceIO
	Containers []Container
}

type descriptor struct {
	help  string
	typ   runtimeapi.MetricType
	extra []string
}

const (
	counter = runtimeapi.MetricType_COUNTER
	gauge   = runtimeapi.MetricType_GAUGE
)

// descriptors is every metric ForPod can send, by cAdvisor name. Values are uint64 in
// the CRI, so seconds are whole seconds (the kubelet passes the value on as it is).
var descriptors = map[string]descriptor{
	"container_cpu_usage_seconds_total":       {"Cumulative cpu time consumed in seconds.", counter, []string{"cpu"}},
	"container_memory_usage_bytes":            {"Current memory usage in bytes, including all memory regardless of when it was accessed.", gauge, nil},
	"container_memory_working_set_bytes":      {"Current working set in bytes.", gauge, nil},
	"container_memory_rss":                    {"Size of RSS in bytes.", gauge, nil},
	"container_memory_failures_total":         {"Cumulative count of memory allocation failures.", counter, []string{"failure_type", "scope"}},
	"container_fs_usage_bytes":                {"Number of bytes that are consumed by the container on this filesystem.", gauge, []string{"device"}},
	"container_fs_reads_bytes_total":          {"Cumulative count of bytes read", counter, []string{"device"}},
	"container_fs_writes_bytes_total":         {"Cumulative count of bytes written", counter, []string{"device"}},
	"container_fs_reads_total":                {"Cumulative count of reads completed", counter, []string{"device"}},
	"container_fs_writes_total":               {"Cumulative count of writes completed", counter, []string{"device"}},
	"container_processes":                     {"Number of processes running inside the container.", gauge, nil},
	"container_network_receive_bytes_total":   {"Cumulative count of bytes received.", counter, []string{"interface"}},
	"container_network_receive_errors_total":  {"Cumulative count of errors encountered while receiving.", counter, []string{"interface"}},
	"container_network_transmit_bytes_total":  {"Cumulative count of bytes transmitted.", counter, []string{"interface"}},
	"container_network_transmit_errors_total": {"Cumulative count of errors encountered while transmitting.", counter, []string{"interface"}},
	"container_spec_memory_limit_bytes":       {"Memory limit for the container.", gauge, nil},
	"container_spec_cpu_shares":               {"CPU share of the container.", gauge, nil},
	"container_spec_cpu_quota":                {"CPU quota of the container.", gauge, nil},
	"container_spec_cpu_period":               {"CPU period of the container.", gauge, nil},
	"container_start_time_seconds":            {"Start time of the container since unix epoch in seconds.", gauge, nil},
	"container_last_seen":                     {"Last time a container was seen by the exporter.", gauge, nil},
}

// Descriptors is the answer to ListMetricDescriptors.
func Descriptors() []*runtimeapi.MetricDescriptor {
	out := make([]*runtimeapi.MetricDescriptor, 0, len(descriptors))
	for name, d := range descriptors {
		out = append(out, &runtimeapi.MetricDescriptor{Name: name, Help: d.help, LabelKeys: append(append([]string(nil), baseKeys...), d.extra...)})
	}
	return out
}

// series collects the metrics of one object.
type series struct {
	base []string
	out  []*runtimeapi.Metric
}

func (s *series) add(name string, v *runtimeapi.UInt64Value, extra ...string) {
	if v == nil {
		return
	}
	s.out = append(s.out, &runtimeapi.Metric{
		Name:        name,
		MetricType:  descriptors[name].typ,
		Value:       &runtimeapi.UInt64Value{Value: v.GetValue()},
		LabelValues: append(append([]string(nil), s.base...), extra...),
	})
}

func value(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

func seconds(v *runtimeapi.UInt64Value) *runtimeapi.UInt64Value {
	if v == nil {
		return nil
	}
	return value(v.GetValue() / uint64(time.Second))
}

func (s *series) cpuMemory(cpu *runtimeapi.CpuUsage, mem *runtimeapi.MemoryUsage, scope string) {
	s.add("container_cpu_usage_seconds_total", seconds(cpu.GetUsageCoreNanoSeconds()), "total")
	s.add("container_memory_usage_bytes", mem.GetUsageBytes())
	s.add("container_memory_working_set_bytes", mem.GetWorkingSetBytes())
	s.add("container_memory_rss", mem.GetRssBytes())
	s.add("container_memory_failures_total", mem.GetPageFaults(), "pgfault", scope)
	s.add("container_memory_failures_total", mem.GetMajorPageFaults(), "pgmajfault", scope)
}

func (s *series) io(devs []stats.DeviceIO) {
	for _, d := range devs {
		s.add("container_fs_reads_bytes_total", value(d.ReadBytes), d.Device)
		s.add("container_fs_writes_bytes_total", value(d.WriteBytes), d.Device)
		s.add("container_fs_reads_total", value(d.Reads), d.Device)
		s.add("container_fs_writes_total", value(d.Writes), d.Device)
	}
}

// ForPod is the pod's metrics, read off its stats at now.
func ForPod(p Pod, now time.Time) *runtimeapi.PodSandboxMetrics {
	out := &runtimeapi.PodSandboxMetrics{PodSandboxId: p.SandboxID}
	linux := p.Stats.GetLinux()
	cg := series{base: p.Cgroup.values()}
	cg.cpuMemory(linux.GetCpu(), linux.GetMemory(), "hierarchy")
	if pc := linux.GetProcess().GetProcessCount(); pc != nil {
		cg.add("container_processes", pc)
	}
	cg.io(p.IO)
	sb := series{base: p.Sandbox.values()}
	for _, iface := range linux.GetNetwork().GetInterfaces() {
		sb.add("container_network_receive_bytes_total", iface.GetRxBytes(), iface.GetName())
		sb.add("container_network_receive_errors_total", iface.GetRxErrors(), iface.GetName())
		sb.add("container_network_transmit_bytes_total", iface.GetTxBytes(), iface.GetName())
		sb.add("container_network_transmit_errors_total", iface.GetTxErrors(), iface.GetName())
	}
	sb.add("container_last_seen", value(uint64(now.Unix())))
	out.Metrics = append(cg.out, sb.out...)
	for _, c := range p.Containers {
		s := series{base: c.values()}
		s.cpuMemory(c.Stats.GetCpu(), c.Stats.GetMemory(), "container")
		if wl := c.Stats.GetWritableLayer(); wl != nil {
			dev := wl.GetFsId().GetMountpoint()
			s.add("container_fs_usage_bytes", wl.GetUsedBytes(), dev)
		}
		s.io(c.IO)
		s.add("container_spec_memory_limit_bytes", value(c.MemoryLimit))
		s.add("container_spec_cpu_shares", value(c.CPUShares))
		if c.CPUQuota > 0 {
			s.add("container_spec_cpu_quota", value(c.CPUQuota))
		}
		s.add("container_spec_cpu_period", value(c.CPUPeriod))
		if !c.Started.IsZero() {
			s.add("container_start_time_seconds", value(uint64(c.Started.Unix())))
		}
		s.add("container_last_seen", value(uint64(now.Unix())))
		out.ContainerMetrics = append(out.ContainerMetrics, &runtimeapi.ContainerMetrics{ContainerId: c.ID, Metrics: s.out})
	}
	return out
}
