package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

// On cgroup v2 a SIGKILLed container whose pod cgroup counted an OOM kill while it ran is
// OOMKilled though Docker missed it; one dockercri stopped, or whose pod counted none,
// is not.
func TestOOMKillFromPodCgroup(t *testing.T) {
	root := t.TempDir()
	old := cgroupfsRoot
	cgroupfsRoot = root
	t.Cleanup(func() { cgroupfsRoot = old })
	pod := filepath.Join(root, "kubepods.slice", "kubepods-burstable.slice", "kubepods-burstable-pod1.slice")
	if err := os.MkdirAll(pod, 0o755); err != nil {
		t.Fatal(err)
	}
	events := func(n int) {
		b := []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill " + string(rune('0'+n)) + "\noom_group_kill 0\n")
		if err := os.WriteFile(filepath.Join(pod, "memory.events"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hc := &container.HostConfig{Resources: container.Resources{CgroupParent: "kubepods-burstable-pod1.slice"}}
	killed := &container.State{Status: "exited", ExitCode: 137}
	events(0)
	oomKills.starting("oom", hc)
	oomKills.starting("stopped", hc)
	oomKills.starting("quiet", hc)
	if got, _ := exitReason("quiet", killed); got != reasonError {
		t.Errorf("SIGKILLed with no OOM kill counted: %s, want Error", got)
	}
	oomKills.stopping("stopped")
	events(1)
	if got, _ := exitReason("oom", killed); got != reasonOOMKilled {
		t.Errorf("SIGKILLed with an OOM kill counted in the pod: %s, want OOMKilled", got)
	}
	if got, _ := exitReason("stopped", killed); got != reasonError {
		t.Errorf("stopped by dockercri: %s, want Error", got)
	}
	// The answer is kept: a later kill elsewhere in the pod does not change it.
	events(2)
	if got, _ := exitReason("quiet", killed); got != reasonError {
		t.Errorf("quiet, asked again: %s", got)
	}
	if got, _ := exitReason("oom", &container.State{Status: "exited", ExitCode: 1}); got != reasonError {
		t.Errorf("exit 1: %s", got)
	}
	for _, id := range []string{"oom", "stopped", "quiet"} {
		oomKills.forget(id)
	}
	if len(oomKills.baselines)+len(oomKills.verdicts) != 0 {
		t.Errorf("left after forget: %v %v", oomKills.baselines, oomKills.verdicts)
	}
}

// On cgroup v1 a SIGKILLed container is OOMKilled when the node's count of OOM kills rose
// while it ran and the kernel log reports a kill in its memory cgroup; a kill elsewhere,
// or one the count does not show, is not its.
func TestOOMKillFromKernelLog(t *testing.T) {
	dir := t.TempDir()
	oldVmstat, oldKmsg := vmstatPath, kmsgPath
	vmstatPath, kmsgPath = filepath.Join(dir, "vmstat"), filepath.Join(dir, "kmsg")
	t.Cleanup(func() { vmstatPath, kmsgPath = oldVmstat, oldKmsg })
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	oom, other, quiet := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	write(vmstatPath, "oom 3\noom_kill 3\n")
	write(kmsgPath, "6,1,10,-;hello\n")
	for _, id := range []string{oom, other, quiet} {
		oomKills.startingV1(id)
	}
	killed := &container.State{Status: "exited", ExitCode: 137}
	if got, _ := exitReason(quiet, killed); got != reasonError {
		t.Errorf("SIGKILLed, no OOM kill on the node: %s, want Error", got)
	}
	write(vmstatPath, "oom 4\noom_kill 4\n")
	write(kmsgPath, "6,1,10,-;hello\n"+
		"6,157929,51430822569,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset="+oom+",mems_allowed=0,oom_memcg=/docker/"+oom+",task_memcg=/docker/"+oom+",task=dd,pid=12389,uid=0\n"+
		"3,157930,51430822570,-;Memory cgroup out of memory: Killed process 12389 (dd)\n")
	if got, _ := exitReason(oom, killed); got != reasonOOMKilled {
		t.Errorf("SIGKILLed, the kernel reports an OOM kill in its cgroup: %s, want OOMKilled", got)
	}
	if got, _ := exitReason(other, killed); got != reasonError {
		t.Errorf("SIGKILLed while another container was OOM-killed: %s, want Error", got)
	}
	for _, id := range []string{oom, other, quiet} {
		oomKills.forget(id)
	}
}
