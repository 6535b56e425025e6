//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// cgroupFDs lists the files dockercri (pid) holds open under cgroup directory dir (any
// controller's).
func cgroupFDs(t *testing.T, pid int, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for _, e := range entries {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil && strings.HasPrefix(target, "/sys/fs/cgroup/") && strings.Contains(target, dir+"/") {
			open = append(open, target)
		}
	}
	return open
}

// fdTargets lists what dockercri (pid) has open, but cgroup files: those of the pods of
// other tests, which share the dockerd, come and go with them.
func fdTargets(t *testing.T, pid int) []string {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, e := range entries {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); !strings.HasPrefix(target, "/sys/fs/cgroup/") {
			targets = append(targets, target)
		}
	}
	return targets
}

// The stats keep the cgroup files of running containers open between calls, and close
// them when the container ends: stopped or removed through dockercri, or exited by
// itself; after the pod is gone dockercri holds none of its cgroup files and no more
// other descriptors than before it. (The Go runtime keeps its own cgroup's CPU limit
// files open, and the pods of other tests on the same dockerd have theirs: only this
// pod's cgroups are counted.)
func TestStatsCgroupFilesClosed(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	raw, _ := d.Raw(t)
	ref := pullBusybox(t, d.Images(t))
	pid := d.Process().Pid()
	poll := func() {
		t.Helper()
		if _, err := rt.ListPodSandboxStats(ctx(t), &runtimeapi.PodSandboxStatsFilter{}); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.ListContainerStats(ctx(t), &runtimeapi.ContainerStatsFilter{}); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ListPodSandboxMetrics(ctx(t), &runtimeapi.ListPodSandboxMetricsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	parent := "/" + env.Prefix + "-statsfds"
	poll()
	baseline := fdTargets(t, pid)

	t.Cleanup(func() { framework.RemoveCgroup(t, parent) })
	cfg := env.SandboxConfig(t, "statsfds")
	cfg.Linux.CgroupParent = parent
	p := runPod(t, rt, cfg) // its cleanup stops and removes it again: no error once gone
	id := p.id
	stopped := p.start(t, framework.ContainerConfig("stopped", ref, "exec sleep 3600"))
	exits := p.start(t, framework.ContainerConfig("exits", ref, "exec sleep 3600"))
	kept := p.start(t, framework.ContainerConfig("kept", ref, "exec sleep 3600"))
	for range 3 {
		poll()
	}
	openOf := func(id string) []string {
		var of []string
		for _, f := range cgroupFDs(t, pid, parent) {
			if strings.Contains(f, id) {
				of = append(of, f)
			}
		}
		return of
	}
	for _, c := range []string{stopped, exits, kept} {
		if len(openOf(c)) == 0 {
			t.Errorf("no cgroup file of container %s kept open after three polls: %v", c[:12], cgroupFDs(t, pid, parent))
		}
	}
	podFiles := func() []string {
		var of []string
		for _, f := range cgroupFDs(t, pid, parent) {
			if filepath.Base(filepath.Dir(f)) == strings.TrimPrefix(parent, "/") {
				of = append(of, f)
			}
		}
		return of
	}
	if len(podFiles()) == 0 {
		t.Errorf("no file of the pod cgroup kept open: %v", cgroupFDs(t, pid, parent))
	}
	n := len(cgroupFDs(t, pid, parent))
	poll()
	if m := len(cgroupFDs(t, pid, parent)); m != n {
		t.Errorf("another poll changed the cgroup files open from %d to %d", n, m)
	}

	// Stopped through dockercri: closed when StopContainer returns.
	if err := rt.StopContainer(ctx(t), stopped, 0); err != nil {
		t.Fatal(err)
	}
	if of := openOf(stopped); len(of) != 0 {
		t.Errorf("files of a stopped container still open: %v", of)
	}
	// Exited by itself (killed behind dockercri's back): closed once Docker says so.
	insp, err := env.Docker.Client.ContainerInspect(ctx(t), exits)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(insp.State.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, exits)
	if err := framework.WaitFor(30*time.Second, func() error {
		if of := openOf(exits); len(of) != 0 {
			return fmt.Errorf("files of a container that exited still open: %v", of)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	poll()
	if len(openOf(kept)) == 0 {
		t.Error("the running container's files were closed with the others'")
	}

	if err := rt.StopPodSandbox(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if open := cgroupFDs(t, pid, parent); len(open) != 0 {
		t.Errorf("cgroup files open after StopPodSandbox: %v", open)
	}
	if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	poll()
	if open := cgroupFDs(t, pid, parent); len(open) != 0 {
		t.Errorf("cgroup files open after the pod is gone: %v", open)
	}
	if after := fdTargets(t, pid); len(after) > len(baseline)+2 {
		t.Errorf("dockercri has %d descriptors open (cgroup files aside), %d before the pod:\n%v\nbefore:\n%v", len(after), len(baseline), after, baseline)
	}
}
