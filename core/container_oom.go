package core

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/docker/docker/api/types/container"

	"github.com/dockercri/dockercri/core/stats"
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
//
// On cgroup v1 Docker misses it too: containerd's shim arms its OOM watch on the
// container's memory cgroup only once the process runs, so a kill in its first moments
// (a machine under load makes them long) comes with no oom event at all, and the cgroup
// is gone by the time the container is seen exited. There the kernel's count of OOM
// kills is per cgroup, not hierarchical, so the pod's cgroup does not tell either:
// dockercri reads the node's count (/proc/vmstat) before the container starts and, once
// it sees the container ended by SIGKILL after that count rose, looks for the kernel's
// report of the kill (its oom-kill line names the victim's memory cgroup, the
// container's own) in the kernel log.
var oomKills = &oomTracker{baselines: map[string]oomBaseline{}, verdicts: map[string]bool{}}

type oomTracker struct {
	mu        sync.Mutex
	baselines map[string]oomBaseline
	verdicts  map[string]bool
}

// oomBaseline is the pod cgroup's oom_kill count when the container started, or the
// node's on cgroup v1 (podDir "").
type oomBaseline struct {
	podDir string
	count  uint64
}

// vmstatPath and kmsgPath are the kernel's counters and its log (variables for tests).
var (
	vmstatPath = "/proc/vmstat"
	kmsgPath   = "/dev/kmsg"
)

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
	return oomKillsIn(b)
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

// startingV1 records the node's count before the container starts, on cgroup v1.
func (o *oomTracker) startingV1(id string) {
	b, err := os.ReadFile(vmstatPath)
	if err != nil {
		return
	}
	n, ok := oomKillsIn(b)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.baselines[id] = oomBaseline{count: n}
	delete(o.verdicts, id)
}

// oomKillsIn is the value of the oom_kill line in b (memory.events, /proc/vmstat).
func oomKillsIn(b []byte) (uint64, bool) {
	var v [1]uint64
	return v[0], stats.Values(b, []string{"oom_kill"}, v[:]) == 1
}

// kernelLoggedOOMKill tells whether the kernel log still holds a report of an OOM kill
// in container id's memory cgroup (task_memcg=/docker/<id>, …/<id> or
// …/docker-<id>.scope).
func kernelLoggedOOMKill(id string) bool {
	f, err := os.OpenFile(kmsgPath, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	// /dev/kmsg gives one record per read, which must fit the buffer; a record is at
	// most 8 KiB (with its dictionary).
	buf := make([]byte, 16<<10)
	var partial []byte
	for {
		n, err := f.Read(buf)
		if n > 0 {
			lines := bytes.Split(append(partial, buf[:n]...), []byte{'\n'})
			partial = append(partial[:0], lines[len(lines)-1]...)
			for _, line := range lines[:len(lines)-1] {
				if oomKillOf(string(line), id) {
					return true
				}
			}
		}
		switch {
		case errors.Is(err, syscall.EPIPE):
			continue // records overwritten while reading: go on with the next
		case err != nil || n == 0:
			return errors.Is(err, io.EOF) && oomKillOf(string(partial), id)
		}
	}
}

// oomKillOf tells whether a kernel log line reports an OOM kill in id's memory cgroup.
func oomKillOf(line, id string) bool {
	_, report, ok := strings.Cut(line, "oom-kill:")
	if !ok {
		return false
	}
	_, memcg, ok := strings.Cut(report, ",task_memcg=")
	if !ok {
		return false
	}
	memcg, _, _ = strings.Cut(memcg, ",")
	return strings.Contains(filepath.Base(memcg), id)
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
	var v bool
	if b.podDir == "" {
		vmstat, err := os.ReadFile(vmstatPath)
		n, ok := oomKillsIn(vmstat)
		v = err == nil && ok && n > b.count && kernelLoggedOOMKill(id)
	} else {
		n, ok := oomKillCount(b.podDir)
		v = ok && n > b.count
	}
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
