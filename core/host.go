package core

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"
	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// hostLimits is what this host lets containers have, probed once at start-up.
type hostLimits struct {
	// minOOMScoreAdj is the lowest oom_score_adj a container may ask for.
	minOOMScoreAdj int
	// bounding are the capabilities of the host's bounding set, Docker's names.
	bounding []string
	// missing are the capabilities the kernel knows and the bounding set lacks.
	missing []string
	// mountSetattr: the kernel can make a mount read-only recursively (Linux 5.12).
	mountSetattr bool
	// cgroupV2: the host has the unified hierarchy alone, where a container's unified
	// resources (container_unified.go) can be written.
	cgroupV2 bool
}

// probeHost finds what the host allows and logs it once. Without CAP_SYS_RESOURCE in
// the bounding set (nested and CI hosts) no process may lower its oom_score_adj, and
// runc fails a container asked to start with a lower one: the floor is then dockercri's
// own value, as containerd's restrict_oom_score_adj takes it; restrictOOM asks for that
// floor on any host.
func probeHost(restrictOOM bool) hostLimits {
	h := hostLimits{minOOMScoreAdj: -1000, mountSetattr: kernelAtLeast(5, 12), cgroupV2: isCgroupV2()}
	last, err := capability.LastCap()
	if err != nil {
		klog.ErrorS(err, "Cannot read the capability bounding set; assuming an unrestricted host")
		return h
	}
	for c := capability.Cap(0); c <= last; c++ {
		name := "CAP_" + strings.ToUpper(c.String())
		if ok, err := capability.GetBound(c); err == nil && ok {
			h.bounding = append(h.bounding, name)
		} else {
			h.missing = append(h.missing, name)
		}
	}
	oomRestricted := restrictOOM || !h.hasCap("CAP_SYS_RESOURCE")
	if oomRestricted {
		h.minOOMScoreAdj = ownOOMScoreAdj()
	}
	if len(h.missing) > 0 || restrictOOM {
		klog.InfoS("Restricted host: containers get at most what it allows",
			"missingCapabilities", strings.Join(h.missing, ","), "minOOMScoreAdj", h.minOOMScoreAdj,
			"privileged", map[bool]string{true: "every capability of the bounding set", false: "Docker's"}[h.privilegedRestricted()])
	}
	return h
}

func ownOOMScoreAdj() int {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return v
}

func (h hostLimits) hasCap(name string) bool { return slices.Contains(h.bounding, name) }

// clampOOMScoreAdj is v, raised to what the host permits.
func (h hostLimits) clampOOMScoreAdj(v int) int {
	return max(v, h.minOOMScoreAdj)
}

// privilegedRestricted tells whether Docker's privileged mode would fail here: it asks
// for every capability the kernel knows.
func (h hostLimits) privilegedRestricted() bool { return len(h.missing) > 0 }

// lastCapEveryDocker is CAP_AUDIT_READ, the last capability every supported Docker
// knows; Docker refuses a name it does not know, even to drop it.
const lastCapEveryDocker = 37

// grantableCaps are the capabilities of the host's bounding set that Docker at API
// version apiVersion knows (Docker 23, API 1.42, added CAP_PERFMON, CAP_BPF and
// CAP_CHECKPOINT_RESTORE): what "ALL" can mean here.
func (h hostLimits) grantableCaps(apiVersion string) []string {
	var out []string
	for _, name := range h.bounding {
		c, ok := capByName(name)
		if ok && (c <= lastCapEveryDocker || versions.GreaterThanOrEqualTo(apiVersion, "1.42")) {
			out = append(out, name)
		}
	}
	return out
}

// kernelAtLeast tells whether the running kernel's version is major.minor or later.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	var maj, min int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &maj, &min); err != nil {
		return false
	}
	return maj > major || maj == major && min >= minor
}

func capByName(name string) (capability.Cap, bool) {
	for _, c := range capability.ListKnown() {
		if "CAP_"+strings.ToUpper(c.String()) == name {
			return c, true
		}
	}
	return 0, false
}

// hostDevices are the host's device nodes, as Docker's privileged mode gives them,
// leaving out the directories Docker leaves out.
func hostDevices() []container.DeviceMapping {
	skip := map[string]bool{"/dev/pts": true, "/dev/shm": true, "/dev/mqueue": true, "/dev/fd": true, "/dev/.udev": true, "/dev/console": true}
	var out []container.DeviceMapping
	_ = filepath.WalkDir("/dev", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case skip[path] && d.IsDir():
			return filepath.SkipDir
		case skip[path] || d.Type()&fs.ModeDevice == 0:
			return nil
		}
		out = append(out, container.DeviceMapping{PathOnHost: path, PathInContainer: path, CgroupPermissions: "rwm"})
		return nil
	})
	return out
}
