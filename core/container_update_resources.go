package core

import (
	"context"
	"path"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// dockerResources translates a container's resources into Docker's. What Docker cannot
// set is an error, not silently dropped: hugepage limits (the kubelet sends every size
// with limit 0, which is no limit and accepted). The cgroup v2 unified settings, which
// Docker's API has no field for, dockercri writes itself (container_unified.go); they are
// checked here.
func (s *Service) dockerResources(r *runtimeapi.LinuxContainerResources) (container.Resources, int, error) {
	for _, hp := range r.GetHugepageLimits() {
		if hp.GetLimit() != 0 {
			return container.Resources{}, 0, status.Errorf(codes.InvalidArgument, "hugepage limit %s=%d: Docker Engine cannot limit hugepages", hp.GetPageSize(), hp.GetLimit())
		}
	}
	if err := checkUnified(r.GetUnified(), s.host.cgroupV2); err != nil {
		return container.Resources{}, 0, err
	}
	res := container.Resources{
		CPUPeriod:  r.GetCpuPeriod(),
		CPUQuota:   r.GetCpuQuota(),
		CPUShares:  r.GetCpuShares(),
		Memory:     r.GetMemoryLimitInBytes(),
		MemorySwap: r.GetMemorySwapLimitInBytes(),
		CpusetCpus: r.GetCpusetCpus(),
		CpusetMems: r.GetCpusetMems(),
	}
	// The kubelet asks for -997 for guaranteed pods; a host that forbids lowering
	// oom_score_adj would fail every such container.
	return res, s.host.clampOOMScoreAdj(int(r.GetOomScoreAdj())), nil
}

// UpdateContainerResources changes a container's limits, running or not.
func (s *Service) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, err := s.inspectKind(ctx, req.GetContainerId(), typeContainer)
	if err != nil {
		return nil, err
	}
	if req.GetLinux() == nil {
		return &runtimeapi.UpdateContainerResourcesResponse{}, nil
	}
	res, _, err := s.dockerResources(req.GetLinux())
	if err != nil {
		return nil, err
	}
	// Docker refuses a memory limit above the swap limit it has: raise the swap limit
	// along (the kubelet does not manage swap per container).
	if res.Memory > 0 && res.MemorySwap == 0 && insp.HostConfig != nil && insp.HostConfig.MemorySwap > 0 && insp.HostConfig.MemorySwap < res.Memory {
		res.MemorySwap = res.Memory
	}
	if _, err := s.docker.ContainerUpdate(ctx, insp.ID, container.UpdateConfig{Resources: res}); err != nil {
		return nil, grpcerr.Wrap(err, "update resources of "+insp.ID)
	}
	// After Docker's update, which rewrites the files it sets (memory.swap.max with
	// memory.max) in the container's cgroup.
	if u := req.GetLinux().GetUnified(); len(u) > 0 && running(&insp) {
		if err := applyUnified(insp.State.Pid, u); err != nil {
			return nil, status.Errorf(codes.Internal, "update unified resources of %s: %v", insp.ID, err)
		}
	}
	s.refresh(ctx, insp.ID)
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// cgroupParent is the pod's cgroup parent in the form Docker's cgroup driver takes: the
// kubelet's cgroupfs path "/kubepods/burstable/pod1" is "kubepods-burstable-pod1.slice"
// under systemd, and the other way round. The kubelet's systemd driver sends the slice's
// path, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice": Docker
// takes it (it looks at the suffix only) but runc refuses any slice name but the last. A
// parent systemd cannot have as a slice is refused: Docker would take it, and runc fail
// every start in it.
func cgroupParent(parent, driver string) (string, error) {
	if parent == "" {
		return "", nil
	}
	switch {
	case driver != "systemd":
		return cgroupfsPath(parent), nil
	case strings.HasSuffix(parent, ".slice"):
		// A slice is named by its last part ("/test.slice", critest's, is test.slice),
		// as containerd names it.
		parent = path.Base(parent)
	default:
		parts := strings.FieldsFunc(path.Clean(parent), func(r rune) bool { return r == '/' })
		parent = strings.Join(parts, "-") + ".slice"
	}
	if !systemdSlice(parent) {
		return "", status.Errorf(codes.InvalidArgument, "cgroup parent %q: Docker's systemd cgroup driver takes a slice name (name.slice of letters, digits, \"_\", \".\", \":\", no empty part between \"-\")", parent)
	}
	return parent, nil
}

// cgroupfsPath is a cgroup parent as a path under the cgroup root: a slice's name
// "kubepods-burstable-pod1.slice" is the slice of "kubepods-burstable.slice" in
// "kubepods.slice", and the path names each level.
func cgroupfsPath(parent string) string {
	if !strings.HasSuffix(parent, ".slice") || strings.Contains(parent, "/") {
		return parent
	}
	parts := strings.Split(strings.TrimSuffix(parent, ".slice"), "-")
	p := ""
	for i := range parts {
		p += "/" + strings.Join(parts[:i+1], "-") + ".slice"
	}
	return p
}

// systemdSlice tells whether name is a slice runc's systemd driver can expand (its
// ExpandSlice, and systemd's unit name rules).
func systemdSlice(name string) bool {
	base, ok := strings.CutSuffix(name, ".slice")
	if !ok || base == "" || len(name) > 255 || strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":-_.\\", r))
	}) {
		return false
	}
	return base == "-" || !slices.Contains(strings.Split(base, "-"), "")
}
