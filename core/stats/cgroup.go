// Package stats reads containers' and pods' resource usage from the kernel — cgroup
// files (v1 and v2, whatever the cgroup driver), the writable layer on disk, the pod's
// network namespace — instead of Docker's stats endpoint, which costs dockerd a
// collection per container per call.
package stats

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the cgroup file systems are mounted.
var cgroupRoot = "/sys/fs/cgroup"

// cgroup locates one process's cgroup: per controller on v1, one directory on v2.
type cgroup struct {
	v2   bool
	dirs map[string]string // controller ("" on v2) → directory
	// files are the cgroup's files kept open between reads; nil: each read opens its
	// file.
	files *openFiles
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
	buf := getBuffer()
	defer putBuffer(buf)
	rd := cg.files.read
	var u usage
	var err error
	if cg.v2 {
		d := cg.dir("")
		var cpu [1]uint64
		if err := readStat(rd, buf, filepath.Join(d, "cpu.stat"), cpuStatKeysV2, cpu[:]); err != nil {
			return u, err
		}
		u.cpuNanos = cpu[0] * 1000
		if u.memUsage, err = readUint(rd, buf, filepath.Join(d, "memory.current")); err != nil {
			return u, err
		}
		var mem [4]uint64
		if err := readStat(rd, buf, filepath.Join(d, "memory.stat"), memStatKeysV2, mem[:]); err != nil {
			return u, err
		}
		u.workingSet = subFloor(u.memUsage, mem[0])
		u.rss, u.pageFaults, u.majorFaults = mem[1], mem[2], mem[3]
		u.memLimit, _ = readUint(rd, buf, filepath.Join(d, "memory.max")) // "max" → 0
		u.processes, err = readUint(rd, buf, filepath.Join(d, "pids.current"))
		u.hasProcesses = err == nil
	} else {
		if u.cpuNanos, err = readUint(rd, buf, filepath.Join(cg.dir("cpuacct"), "cpuacct.usage")); err != nil {
			return u, err
		}
		md := cg.dir("memory")
		if u.memUsage, err = readUint(rd, buf, filepath.Join(md, "memory.usage_in_bytes")); err != nil {
			return u, err
		}
		var mem [4]uint64
		if err := readStat(rd, buf, filepath.Join(md, "memory.stat"), memStatKeysV1, mem[:]); err != nil {
			return u, err
		}
		u.workingSet = subFloor(u.memUsage, mem[0])
		u.rss, u.pageFaults, u.majorFaults = mem[1], mem[2], mem[3]
		if limit, err := readUint(rd, buf, filepath.Join(md, "memory.limit_in_bytes")); err == nil && limit < 1<<62 {
			u.memLimit = limit
		}
		u.processes, err = readUint(rd, buf, filepath.Join(cg.dir("pids"), "pids.current"))
		u.hasProcesses = err == nil
	}
	u.hasMemoryStats = true
	return u, nil
}

// The keys read from memory.stat, in the order read takes their values: inactive file
// pages, anonymous memory, page faults, major faults; and from v2's cpu.stat.
var (
	memStatKeysV1 = []string{"total_inactive_file", "total_rss", "total_pgfault", "total_pgmajfault"}
	memStatKeysV2 = []string{"inactive_file", "anon", "pgfault", "pgmajfault"}
	cpuStatKeysV2 = []string{"usage_usec"}
)

func subFloor(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// readUint reads a file holding one number ("max" reads as 0).
func readUint(rd reader, buf *[]byte, path string) (uint64, error) {
	b, err := rd(buf, path)
	if err != nil {
		return 0, err
	}
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return 0, nil
	}
	return parseUint(b)
}

// readStat reads the values of keys from a "key value" per line file (memory.stat,
// cpu.stat) into values; a key the file lacks reads as 0.
func readStat(rd reader, buf *[]byte, path string, keys []string, values []uint64) error {
	b, err := rd(buf, path)
	if err != nil {
		return err
	}
	Values(b, keys, values)
	return nil
}

// Values parses the values of keys from b, a kernel file of "key value" lines
// (memory.stat, memory.events, /proc/vmstat), into values, and says how many of the
// keys b has; a key b lacks reads as 0.
func Values(b []byte, keys []string, values []uint64) (found int) {
	clear(values)
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			continue
		}
		for i, key := range keys {
			if string(k) == key {
				if n, err := parseUint(bytes.TrimSpace(v)); err == nil {
					values[i] = n
					found++
				}
				break
			}
		}
	}
	return found
}

// parseUint is strconv.ParseUint(string(b), 10, 64) without the string.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, fmt.Errorf("not a number: %q", b)
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not a number: %q", b)
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, fmt.Errorf("out of range: %q", b)
		}
		n = n*10 + d
	}
	return n, nil
}

// buffers are read buffers for kernel files, reused: stats read several files per
// container at each poll of the kubelet.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuffer() *[]byte  { return buffers.Get().(*[]byte) }
func putBuffer(b *[]byte) { buffers.Put(b) }

// reader reads a small kernel file at path into *buf: readFile, or a kept file's read.
type reader func(buf *[]byte, path string) ([]byte, error)

// readFile reads a small kernel file into *buf (grown as needed) with plain system
// calls: os.ReadFile's *os.File costs a stat, a poller registration attempt and a few
// allocations per file, and that is most of what a stats call spends.
func readFile(buf *[]byte, path string) ([]byte, error) {
	var fd int
	var err error
	for {
		if fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			*buf = b
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			*buf = b
			return b, nil
		}
		b = b[:len(b)+n]
	}
}
