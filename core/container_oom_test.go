package core

import (
	"os"
	"path/filepath"
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
