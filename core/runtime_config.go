package core

import (
	"context"

	"github.com/docker/docker/api/types/system"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// RuntimeConfig tells the kubelet which cgroup driver Docker uses, so that the two agree.
func (s *Service) RuntimeConfig(ctx context.Context, _ *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	name, err := s.dockerCgroupDriver(ctx)
	if err != nil {
		return nil, err
	}
	driver, err := cgroupDriver(name)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}

// dockerCgroupDriver is Docker's cgroup driver, kept while dockerd runs (docker info
// costs dockerd milliseconds, and RunPodSandbox needs it for every pod).
func (s *Service) dockerCgroupDriver(ctx context.Context) (string, error) {
	d, err := s.daemonFacts(ctx)
	return d.cgroupDriver, err
}

// daemonFacts are Docker's cgroup driver and root directory.
type daemonFacts struct{ cgroupDriver, rootDir string }

func (s *Service) daemonFacts(ctx context.Context) (daemonFacts, error) {
	return s.daemon.Get(ctx, func(ctx context.Context) (daemonFacts, error) {
		info, err := s.dockerInfo(ctx)
		return daemonFacts{cgroupDriver: info.CgroupDriver, rootDir: info.DockerRootDir}, err
	})
}

// dockerInfo is Docker's system info, within the request timeout.
func (s *Service) dockerInfo(ctx context.Context) (system.Info, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	info, err := s.docker.Info(ctx)
	if err != nil {
		return info, grpcerr.Wrap(err, "docker info")
	}
	return info, nil
}

func cgroupDriver(name string) (runtimeapi.CgroupDriver, error) {
	switch name {
	case "systemd":
		return runtimeapi.CgroupDriver_SYSTEMD, nil
	case "cgroupfs":
		return runtimeapi.CgroupDriver_CGROUPFS, nil
	}
	return 0, status.Errorf(codes.FailedPrecondition, "docker reports cgroup driver %q, want systemd or cgroupfs", name)
}
