package stats

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// layerTTL is how long a writable layer's measured size is reused: walking a layer is
// the one costly read, and the kubelet asks every few seconds.
const layerTTL = 30 * time.Second

// sampleTTL forgets the CPU samples of containers no longer asked about.
const sampleTTL = 10 * time.Minute

// pruneEvery is how often the collector looks for entries to forget.
const pruneEvery = time.Minute

// cgroupIdle is how long the open cgroup files of a container no stats call asks
// about stay open: the kubelet asks every 10 to 15 s while a container runs, and one
// that ended without dockercri seeing it (no Forget) must not keep them for long.
const cgroupIdle = 2 * pruneEvery

// Collector computes CRI stats. It keeps the previous CPU sample of each container and
// pod (usage_nano_cores is the rate between two samples) and recent layer sizes.
type Collector struct {
	mu      sync.Mutex
	samples map[string]cpuSample
	layers  map[string]layerSize
	cgroups map[string]*pidCgroup
	pruned  time.Time
	budget  *fdBudget
}

// pidCgroup is the cgroup a container's process is in, with its files kept open; it
// goes with the container's CPU sample.
type pidCgroup struct {
	pid int
	cg  *cgroup
	// pod is the cgroup parent's (a sandbox's pod cgroup), made on first use.
	pod  *cgroup
	used time.Time
}

// close closes the kept files of the cgroups.
func (p *pidCgroup) close() {
	p.cg.files.close()
	if p.pod != nil {
		p.pod.files.close()
	}
}

type cpuSample struct {
	at, nanos uint64
}

type layerSize struct {
	at            time.Time
	bytes, inodes uint64
	mountpoint    string
}

// NewCollector returns a collector with no samples yet.
func NewCollector() *Collector {
	return &Collector{samples: map[string]cpuSample{}, layers: map[string]layerSize{}, cgroups: map[string]*pidCgroup{}, budget: newFDBudget()}
}

// Forget drops what the collector keeps of container (or sandbox) id and closes its
// cgroup files: dockercri calls it when the container stops or is removed.
func (c *Collector) Forget(id string) {
	c.mu.Lock()
	p := c.cgroups[id]
	delete(c.cgroups, id)
	delete(c.samples, id)
	delete(c.layers, id)
	c.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// Close closes every kept cgroup file.
func (c *Collector) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.cgroups {
		p.close()
		delete(c.cgroups, id)
	}
}

// Container is the stats of a container; CPU and memory only while it runs (they come
// from its cgroup, found through its process).
func (c *Collector) Container(insp *container.InspectResponse, attrs *runtimeapi.ContainerAttributes) *runtimeapi.ContainerStats {
	now := time.Now().UnixNano()
	st := &runtimeapi.ContainerStats{Attributes: attrs, WritableLayer: c.writableLayer(insp, now)}
	if cg := c.runningCgroup(insp); cg != nil {
		if u, err := cg.read(); err == nil {
			st.Cpu = c.cpu(insp.ID, now, u)
			st.Memory = memory(now, u)
		}
	}
	return st
}

// Sandbox is the stats of a pod: its cgroup (the cgroup parent the kubelet made, one
// level above its containers'), its network namespace's interfaces, and its containers.
func (c *Collector) Sandbox(sb *container.InspectResponse, attrs *runtimeapi.PodSandboxAttributes, containers []*runtimeapi.ContainerStats) *runtimeapi.PodSandboxStats {
	now := time.Now().UnixNano()
	linux := &runtimeapi.LinuxPodSandboxStats{Containers: containers}
	if cg := c.runningCgroup(sb); cg != nil {
		pod := cg
		if hasPodCgroup(sb) {
			if pod = c.podCgroup(sb); pod == nil {
				pod = cg.parent()
			}
		}
		if u, err := pod.read(); err == nil {
			if pod == cg {
				// No pod cgroup: the pod's use is its containers'.
				u = sum(u, containers)
			}
			linux.Cpu = c.cpu(sb.ID, now, u)
			linux.Memory = memory(now, u)
			if u.hasProcesses {
				linux.Process = &runtimeapi.ProcessUsage{Timestamp: now, ProcessCount: &runtimeapi.UInt64Value{Value: u.processes}}
			}
		}
		if sb.HostConfig == nil || !sb.HostConfig.NetworkMode.IsHost() {
			linux.Network = network(sb.State.Pid, now)
		}
	}
	return &runtimeapi.PodSandboxStats{Attributes: attrs, Linux: linux}
}

// runningCgroup is the cgroup of a running container's process. It is read from /proc
// once per process: a process stays in the cgroup runc put it in.
func (c *Collector) runningCgroup(insp *container.InspectResponse) *cgroup {
	if p := c.running(insp); p != nil {
		return p.cg
	}
	return nil
}

// hasPodCgroup tells whether the sandbox's containers are under a pod cgroup (the
// cgroup parent the kubelet made), one level above its own.
func hasPodCgroup(sb *container.InspectResponse) bool {
	return sb.HostConfig != nil && sb.HostConfig.CgroupParent != ""
}

// podCgroup is the pod cgroup of a running sandbox that has one.
func (c *Collector) podCgroup(sb *container.InspectResponse) *cgroup {
	p := c.running(sb)
	if p == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cgroups[sb.ID] != p {
		// Forgotten meanwhile: read without keeping files.
		return p.cg.parent()
	}
	if p.pod == nil {
		p.pod = p.cg.parent()
		p.pod.files = newOpenFiles(c.budget)
	}
	return p.pod
}

func (c *Collector) running(insp *container.InspectResponse) *pidCgroup {
	if insp.State == nil || !insp.State.Running || insp.State.Pid <= 0 {
		return nil
	}
	pid := insp.State.Pid
	now := time.Now()
	c.mu.Lock()
	known := c.cgroups[insp.ID]
	if known != nil && known.pid == pid {
		known.used = now
		c.mu.Unlock()
		return known
	}
	c.mu.Unlock()
	cg, err := cgroupOf(pid)
	if err != nil {
		return nil
	}
	cg.files = newOpenFiles(c.budget)
	p := &pidCgroup{pid: pid, cg: cg, used: now}
	c.mu.Lock()
	defer c.mu.Unlock()
	if known := c.cgroups[insp.ID]; known != nil {
		if known.pid == pid {
			return known // another call's, made meanwhile
		}
		known.close() // an earlier process's (the container restarted)
	}
	c.cgroups[insp.ID] = p
	return p
}

// sum adds the containers' CPU and memory to u (the pause container's own).
func sum(u usage, containers []*runtimeapi.ContainerStats) usage {
	for _, cs := range containers {
		u.cpuNanos += cs.GetCpu().GetUsageCoreNanoSeconds().GetValue()
		u.memUsage += cs.GetMemory().GetUsageBytes().GetValue()
		u.workingSet += cs.GetMemory().GetWorkingSetBytes().GetValue()
		u.rss += cs.GetMemory().GetRssBytes().GetValue()
	}
	u.memLimit = 0
	return u
}

// cpu is the CPU usage, with the rate since the previous sample of the same id.
func (c *Collector) cpu(id string, now int64, u usage) *runtimeapi.CpuUsage {
	cu := &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: u.cpuNanos}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.samples[id]; ok && uint64(now) > prev.at && u.cpuNanos >= prev.nanos {
		cu.UsageNanoCores = &runtimeapi.UInt64Value{Value: (u.cpuNanos - prev.nanos) * 1e9 / (uint64(now) - prev.at)}
	}
	c.samples[id] = cpuSample{at: uint64(now), nanos: u.cpuNanos}
	c.pruneLocked(time.Unix(0, now))
	return cu
}

// pruneLocked forgets the samples, cgroups and layer sizes of containers no longer
// asked about. It looks at most once a pruneEvery: a stats list reads every container,
// and walking all entries for each would be quadratic.
func (c *Collector) pruneLocked(now time.Time) {
	if now.Sub(c.pruned) < pruneEvery {
		return
	}
	c.pruned = now
	for k, s := range c.samples {
		if uint64(now.UnixNano())-s.at > uint64(sampleTTL) {
			delete(c.samples, k)
		}
	}
	for k, p := range c.cgroups {
		if _, ok := c.samples[k]; !ok || now.Sub(p.used) > cgroupIdle {
			p.close()
			delete(c.cgroups, k)
		}
	}
	for k, v := range c.layers {
		if now.Sub(v.at) > sampleTTL {
			delete(c.layers, k)
		}
	}
}

func memory(now int64, u usage) *runtimeapi.MemoryUsage {
	m := &runtimeapi.MemoryUsage{
		Timestamp:       now,
		WorkingSetBytes: &runtimeapi.UInt64Value{Value: u.workingSet},
		UsageBytes:      &runtimeapi.UInt64Value{Value: u.memUsage},
		RssBytes:        &runtimeapi.UInt64Value{Value: u.rss},
		PageFaults:      &runtimeapi.UInt64Value{Value: u.pageFaults},
		MajorPageFaults: &runtimeapi.UInt64Value{Value: u.majorFaults},
	}
	if u.memLimit > 0 {
		m.AvailableBytes = &runtimeapi.UInt64Value{Value: subFloor(u.memLimit, u.workingSet)}
	}
	return m
}

// writableLayer measures the container's writable layer (the overlay's upper directory).
func (c *Collector) writableLayer(insp *container.InspectResponse, now int64) *runtimeapi.FilesystemUsage {
	c.mu.Lock()
	l, ok := c.layers[insp.ID]
	c.mu.Unlock()
	if !ok || time.Since(l.at) > layerTTL {
		upper := upperDir(insp)
		if upper == "" {
			return nil
		}
		l = measure(upper)
		c.mu.Lock()
		c.layers[insp.ID] = l
		c.pruneLocked(time.Now())
		c.mu.Unlock()
	}
	return &runtimeapi.FilesystemUsage{
		Timestamp:  now,
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: l.mountpoint},
		UsedBytes:  &runtimeapi.UInt64Value{Value: l.bytes},
		InodesUsed: &runtimeapi.UInt64Value{Value: l.inodes},
	}
}

// upperDir is the container's writable layer: overlay2's upper directory as Docker
// reports it, else (Docker's containerd image store reports none) the upperdir of the
// overlay its running process has as root.
func upperDir(insp *container.InspectResponse) string {
	if upper := insp.GraphDriver.Data["UpperDir"]; upper != "" {
		return upper
	}
	if insp.State == nil || insp.State.Pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(insp.State.Pid) + "/mountinfo")
	if err != nil {
		return ""
	}
	return rootUpperDir(string(b))
}

// rootUpperDir finds, in a mountinfo table, the upperdir of an overlay mounted at "/":
// "id parent dev root / opts [tags] - overlay source rw,lowerdir=…,upperdir=…,workdir=…".
func rootUpperDir(mountinfo string) string {
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 5 || len(f) < sep+4 || f[4] != "/" || f[sep+1] != "overlay" {
			continue
		}
		for _, opt := range strings.Split(f[sep+3], ",") {
			if dir, ok := strings.CutPrefix(opt, "upperdir="); ok {
				return dir
			}
		}
	}
	return ""
}

// measure adds up the disk blocks and inodes under dir.
func measure(dir string) layerSize {
	l := layerSize{at: time.Now(), mountpoint: filepath.Dir(filepath.Dir(dir))}
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		l.inodes++
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				l.bytes += uint64(st.Blocks) * 512
			}
		}
		return nil
	})
	return l
}

// network reads the interfaces of pid's network namespace (its /proc/<pid>/net/dev),
// leaving out loopback; eth0, the CNI interface, is the default (else the first).
func network(pid int, now int64) *runtimeapi.NetworkUsage {
	buf := getBuffer()
	defer putBuffer(buf)
	b, err := readFile(buf, "/proc/"+strconv.Itoa(pid)+"/net/dev")
	if err != nil {
		return nil
	}
	return parseNetDev(bytes.NewReader(b), now)
}

// parseNetDev reads a /proc/<pid>/net/dev table.
func parseNetDev(r io.Reader, now int64) *runtimeapi.NetworkUsage {
	nu := &runtimeapi.NetworkUsage{Timestamp: now}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 11 {
			continue
		}
		n := func(i int) *runtimeapi.UInt64Value {
			v, _ := strconv.ParseUint(fields[i], 10, 64)
			return &runtimeapi.UInt64Value{Value: v}
		}
		iface := &runtimeapi.NetworkInterfaceUsage{Name: name, RxBytes: n(0), RxErrors: n(2), TxBytes: n(8), TxErrors: n(10)}
		nu.Interfaces = append(nu.Interfaces, iface)
		if name == "eth0" {
			nu.DefaultInterface = iface
		}
	}
	if len(nu.Interfaces) == 0 {
		// Only loopback (no CNI interface yet): no network stats, rather than stats
		// without a default interface, which the kubelet's CRI stats provider reads
		// unchecked.
		return nil
	}
	if nu.DefaultInterface == nil {
		nu.DefaultInterface = nu.Interfaces[0]
	}
	return nu
}
