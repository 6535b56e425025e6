package core

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"k8s.io/klog/v2"
)

// capSysResource is CAP_SYS_RESOURCE's bit: without it no process may lower its
// oom_score_adj, and runc fails a container asked to start with a lower one.
const capSysResource = 24

// hostLimits is what this host lets containers have, probed once at start-up.
type hostLimits struct {
	// minOOMScoreAdj is the lowest oom_score_adj a container may ask for.
	minOOMScoreAdj int
	// oomRestricted is set when the host forbids lowering oom_score_adj.
	oomRestricted bool
}

// probeHost finds what the host allows. On a host whose capability bounding set lacks
// CAP_SYS_RESOURCE (nested and CI hosts), processes can only raise their oom_score_adj
// above what they inherit, so the floor is dockercri's own value, as containerd's
// restrict_oom_score_adj takes it.
func probeHost() hostLimits {
	h := hostLimits{minOOMScoreAdj: -1000}
	bnd, err := statusHex("/proc/self/status", "CapBnd:")
	if err != nil {
		klog.ErrorS(err, "Cannot read the capability bounding set; assuming an unrestricted host")
		return h
	}
	if bnd&(1<<capSysResource) != 0 {
		return h
	}
	h.oomRestricted = true
	h.minOOMScoreAdj = 0
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			h.minOOMScoreAdj = v
		}
	}
	klog.InfoS("Host forbids lowering oom_score_adj (no CAP_SYS_RESOURCE in the bounding set): containers get at least this value", "minOOMScoreAdj", h.minOOMScoreAdj)
	return h
}

// clampOOMScoreAdj is v, raised to what the host permits.
func (h hostLimits) clampOOMScoreAdj(v int) int {
	return max(v, h.minOOMScoreAdj)
}

// statusHex reads a hexadecimal field of a /proc status file.
func statusHex(path, field string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			return strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, os.ErrNotExist
}
