// Package stats reads containers' and pods' resource usage from the kernel — cgroup
// files (v1 and v2, whatever the cgroup driver), the writable layer on disk, the pod's
// network namespace — instead of Docker's stats endpoint, which costs dockerd a
// collection per container per call.
package stats

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupRoot is where the cgroup file systems are mounted.
var cgroupRoot = "/sys/fs/cgroup"

// cgroup locates one process's cgroup: per controller on v1, one directory on v2.
type cgroup struct {
	v2   bool
	dirs map[string]string // controller ("" on v2) → directory
}

// cgroupOf reads /proc/<pid>/cgroup. dockercri runs in the host's cgroup namespace,
// so the paths are from the root.
func cgroupOf(pid int) (*cgroup, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	return parseCgroupFile(b), nil
}

func parseCgroupFile(b []byte) *cgroup {
	cg := &cgroup{dirs: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			cg.v2 = true
			cg.dirs[""] = filepath.Join(cgroupRoot, parts[2])
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			ctrl = strings.TrimPrefix(ctrl, "name=")
			cg.dirs[ctrl] = filepath.Join(cgroupRoot, ctrl, parts[2])
		}
	}
	if len(cg.dirs) > 1 {
		cg.v2 = false
		delete(cg.dirs, "") // a hybrid host's unified line: v1 controllers hold the data
	}
	return cg
}

// parent is the cgroup one level up (the pod's, for a pod's container).
func (cg *cgroup) parent() *cgroup {
	p := &cgroup{v2: cg.v2, dirs: map[string]string{}}
	for k, d := range cg.dirs {
		p.dirs[k] = filepath.Dir(d)
	}
	return p
}

func (cg *cgroup) dir(v1Controller string) string {
	if cg.v2 {
		return cg.dirs[""]
	}
	return cg.dirs[v1Controller]
}

// usage is what a cgroup has used.
type usage struct {
	cpuNanos       uint64
	memUsage       uint64
	workingSet     uint64
	rss            uint64
	pageFaults     uint64
	majorFaults    uint64
	memLimit       uint64 // 0: none
	processes      uint64
	hasProcesses   bool
	hasMemoryStats bool
}

// read reads the cgroup's CPU, memory and pids files.
func (cg *cgroup) read() (usage, error) {
	var u usage
	var err error
	if cg.v2 {
		d := cg.dir("")
		stat, err := readKeyValues(filepath.Join(d, "cpu.stat"))
		if err != nil {
			return u, err
		}
		u.cpuNanos = stat["usage_usec"] * 1000
		if u.memUsage, err = readUint(filepath.Join(d, "memory.current")); err != nil {
			return u, err
		}
		mem, err := readKeyValues(filepath.Join(d, "memory.stat"))
		if err != nil {
			return u, err
		}
		u.workingSet = subFloor(u.memUsage, mem["inactive_file"])
		u.rss, u.pageFaults, u.majorFaults = mem["anon"], mem["pgfault"], mem["pgmajfault"]
		u.memLimit, _ = readUint(filepath.Join(d, "memory.max")) // "max" → 0
		u.processes, err = readUint(filepath.Join(d, "pids.current"))
		u.hasProcesses = err == nil
	} else {
		if u.cpuNanos, err = readUint(filepath.Join(cg.dir("cpuacct"), "cpuacct.usage")); err != nil {
			return u, err
		}
		md := cg.dir("memory")
		if u.memUsage, err = readUint(filepath.Join(md, "memory.usage_in_bytes")); err != nil {
			return u, err
		}
		mem, err := readKeyValues(filepath.Join(md, "memory.stat"))
		if err != nil {
			return u, err
		}
		u.workingSet = subFloor(u.memUsage, mem["total_inactive_file"])
		u.rss, u.pageFaults, u.majorFaults = mem["total_rss"], mem["total_pgfault"], mem["total_pgmajfault"]
		if limit, err := readUint(filepath.Join(md, "memory.limit_in_bytes")); err == nil && limit < 1<<62 {
			u.memLimit = limit
		}
		u.processes, err = readUint(filepath.Join(cg.dir("pids"), "pids.current"))
		u.hasProcesses = err == nil
	}
	u.hasMemoryStats = true
	return u, nil
}

func subFloor(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKeyValues reads a "key value" per line file (memory.stat, cpu.stat).
func readKeyValues(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}
