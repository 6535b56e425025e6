package core

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// A container's cgroup v2 unified resources (LinuxContainerResources.unified) are cgroup
// files and their values. The kubelet sends some for every container on a cgroup v2 node
// (memory.oom.group=1, memory.swap.max, memory.min/low/high), and Docker's API has no
// field for any of them: dockercri writes them into the container's cgroup itself, as
// runc would, once the container runs (at StartContainer, and again at
// UpdateContainerResources). They are kept in a label from create to start.

// labelUnified holds a container's unified resources, as JSON.
const labelUnified = "io.dockercri.unified"

// cgroupfsRoot is where the cgroup v2 hierarchy is mounted.
var cgroupfsRoot = "/sys/fs/cgroup"

// isCgroupV2 is true on a host with the unified hierarchy alone.
func isCgroupV2() bool {
	_, err := os.Stat(filepath.Join(cgroupfsRoot, "cgroup.controllers"))
	return err == nil
}

// checkUnified refuses unified resources on a cgroup v1 host, where they mean nothing,
// and keys that are not a cgroup interface file's name ("memory.high"): dockercri writes
// to the file the key names, and must not be led out of the container's cgroup.
func checkUnified(u map[string]string, v2 bool) error {
	if len(u) == 0 {
		return nil
	}
	if !v2 {
		return status.Errorf(codes.InvalidArgument, "cgroup v2 unified resources %v on a host without cgroup v2", u)
	}
	for k, v := range u {
		ctrl, name, ok := strings.Cut(k, ".")
		if !ok || ctrl == "" || name == "" || strings.ContainsAny(k, "/\x00") || strings.HasPrefix(k, "cgroup.") {
			return status.Errorf(codes.InvalidArgument, "cgroup v2 unified resource %q: not a controller's file", k)
		}
		if strings.ContainsAny(v, "\x00") {
			return status.Errorf(codes.InvalidArgument, "cgroup v2 unified resource %s: value %q", k, v)
		}
	}
	return nil
}

// setUnifiedLabel keeps the unified resources in the container's labels until it starts.
func setUnifiedLabel(c *container.Config, u map[string]string) error {
	if len(u) == 0 {
		return nil
	}
	b, err := json.Marshal(u)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "unified resources: %v", err)
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[labelUnified] = string(b)
	return nil
}

// startUnified writes a started container's unified resources into its cgroup. A
// container that cannot have them is killed: it must not run without its limits.
func (s *Service) startUnified(ctx context.Context, insp *container.InspectResponse) error {
	raw := insp.Config.Labels[labelUnified]
	if raw == "" {
		return nil
	}
	var u map[string]string
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		return status.Errorf(codes.Internal, "unified resources of %s: %v", insp.ID, err)
	}
	started, err := s.docker.ContainerInspect(ctx, insp.ID)
	if err != nil {
		return status.Errorf(codes.Internal, "inspect started container %s: %v", insp.ID, err)
	}
	if started.State == nil || !started.State.Running || started.State.Pid <= 0 {
		return nil // ended already: nothing to limit
	}
	if err := applyUnified(started.State.Pid, u); err != nil {
		klog.ErrorS(err, "Cannot apply the container's unified resources; killing it", "containerID", insp.ID)
		if kerr := s.docker.ContainerKill(context.WithoutCancel(ctx), insp.ID, "KILL"); kerr != nil {
			klog.ErrorS(kerr, "Kill the container", "containerID", insp.ID)
		}
		return status.Errorf(codes.Internal, "apply unified resources to %s: %v", insp.ID, err)
	}
	return nil
}

// applyUnified writes u into the cgroup of process pid, in the order of the keys.
func applyUnified(pid int, u map[string]string) error {
	dir, err := unifiedCgroupDir(pid)
	if err != nil {
		return err
	}
	return writeUnified(dir, u)
}

// unifiedCgroupDir is the cgroup v2 directory of a process (dockercri runs in the host's
// cgroup namespace: the path is from the root).
func unifiedCgroupDir(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(cgroupfsRoot, filepath.Clean("/"+p)), nil
		}
	}
	return "", fmt.Errorf("process %d has no cgroup v2", pid)
}

func writeUnified(dir string, u map[string]string) error {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		// No O_CREATE: a key the kernel does not have is an error, never a new file.
		f, err := os.OpenFile(filepath.Join(dir, k), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		_, err = f.WriteString(u[k])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s=%s: %w", k, u[k], err)
		}
	}
	return nil
}
