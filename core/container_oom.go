package core

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/docker/docker/api/types/container"
)

// On cgroup v2 Docker can miss that the kernel OOM-killed a container: its runtime
// (containerd's shim) learns it from memory.events of the container's own cgroup, and
// with the systemd driver that cgroup, a scope, goes as soon as its last process dies,
// often before the shim has read it. The container then ends as a plain exit 137, and
// the kubelet reports Error where v1 said OOMKilled. The kernel counts every kill in the
// pod's cgroup too (memory.events is hierarchical), which outlives the container:
// dockercri reads its oom_kill before the container starts, and once it sees the
// container ended by SIGKILL, compares. A container dockercri was asked to stop is not
// attributed (the kubelet's SIGKILL after the grace period is no OOM), nor one that
// started before dockercri did (no count to compare with).
var oomKills = &oomTracker{baselines: map[string]oomBaseline{}, verdicts: map[string]bool{}}

type oomTracker struct {
	mu        sync.Mutex
	baselines map[string]oomBaseline
	verdicts  map[string]bool
}

// oomBaseline is the pod cgroup's oom_kill count when the container started.
type oomBaseline struct {
	podDir string
	count  uint64
}

// podCgroupDir is the v2 directory of a container's pod cgroup, "" without one.
func podCgroupDir(hc *container.HostConfig) string {
	if hc == nil || hc.CgroupParent == "" {
		return ""
	}
	return filepath.Join(cgroupfsRoot, cgroupfsPath(hc.CgroupParent))
}

// oomKillCount is memory.events' oom_kill in dir.
func oomKillCount(dir string) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "memory.events"))
	if err != nil {
		return 0, false
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("oom_kill ")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// starting records the pod cgroup's count before the container starts.
func (o *oomTracker) starting(id string, hc *container.HostConfig) {
	dir := podCgroupDir(hc)
	if dir == "" {
		return
	}
	n, ok := oomKillCount(dir)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.baselines[id] = oomBaseline{podDir: dir, count: n}
	delete(o.verdicts, id)
}

// stopping: what ends the container from now on is the stop.
func (o *oomTracker) stopping(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.baselines[id]; ok {
		delete(o.baselines, id)
		o.verdicts[id] = false
	}
}

// killed decides, the first time the container is seen ended by SIGKILL, whether the
// kernel's OOM killer did it, and keeps the answer.
func (o *oomTracker) killed(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.verdicts[id]; ok {
		return v
	}
	b, ok := o.baselines[id]
	if !ok {
		return false
	}
	delete(o.baselines, id)
	n, ok := oomKillCount(b.podDir)
	v := ok && n > b.count
	o.verdicts[id] = v
	return v
}

// forget drops a removed container.
func (o *oomTracker) forget(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.baselines, id)
	delete(o.verdicts, id)
}
