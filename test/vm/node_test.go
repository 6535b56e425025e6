//go:build vm

package vm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// endpoint is where the packaged dockercri.socket listens.
const endpoint = "unix:///run/dockercri.sock"

// cri is the node's dockercri, started by systemd: the tests' CRI clients for it.
var cri = &framework.Dockercri{Socket: "/run/dockercri.sock", Endpoint: endpoint}

// run runs a command of the node (systemctl, dpkg) and returns its output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// unit is the properties of a systemd unit that the tests look at.
type unit struct {
	ActiveState, SubState, UnitFileState, LoadState string
	MainPID                                         int
}

func show(t *testing.T, name string) unit {
	t.Helper()
	var u unit
	for _, line := range strings.Split(run(t, "systemctl", "show", "-p", "ActiveState,SubState,UnitFileState,LoadState,MainPID", name), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "ActiveState":
			u.ActiveState = v
		case "SubState":
			u.SubState = v
		case "UnitFileState":
			u.UnitFileState = v
		case "LoadState":
			u.LoadState = v
		case "MainPID":
			u.MainPID, _ = strconv.Atoi(v)
		}
	}
	return u
}

// cgroupOf is the cgroup v2 directory of a process.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(b))
	path, ok := strings.CutPrefix(line, "0::")
	if !ok || strings.Contains(line, "\n") {
		t.Fatalf("/proc/%d/cgroup is not cgroup v2 alone: %q", pid, line)
	}
	return filepath.Join("/sys/fs/cgroup", path)
}

// containerCgroup is a running container's cgroup directory, from its process.
func containerCgroup(t *testing.T, id string) string {
	t.Helper()
	insp, err := docker.ContainerInspect(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if insp.State == nil || insp.State.Pid == 0 {
		t.Fatalf("container %s is not running: %+v", id, insp.State)
	}
	return cgroupOf(t, insp.State.Pid)
}

// cgroupFile is the content of a cgroup's file, trimmed.
func cgroupFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// cgroupUint is a cgroup file holding one number.
func cgroupUint(t *testing.T, dir, name string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(cgroupFile(t, dir, name), 10, 64)
	if err != nil {
		t.Fatalf("%s/%s: %v", dir, name, err)
	}
	return v
}

// statValue is key's value in a flat keyed cgroup file (cpu.stat, memory.stat, memory.events).
func statValue(t *testing.T, dir, file, key string) uint64 {
	t.Helper()
	for _, line := range strings.Split(cgroupFile(t, dir, file), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("%s/%s %s: %v", dir, file, key, err)
			}
			return n
		}
	}
	t.Fatalf("%s/%s has no %s", dir, file, key)
	return 0
}

// runningIDs are the ids of the running containers of the node's Docker.
func runningIDs(t *testing.T) []string {
	t.Helper()
	list, err := docker.ContainerList(ctx(t), container.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// readyPods are the ids of the pods dockercri reports ready.
func readyPods(t *testing.T) []string {
	return cri.SandboxIDs(t, &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}})
}
