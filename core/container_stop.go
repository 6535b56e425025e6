package core

import (
	"context"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// StopContainer stops a container with its image's STOPSIGNAL (else SIGTERM), then
// SIGKILL after the timeout. Stopping a stopped or missing container succeeds.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	grace := time.Duration(max(req.GetTimeout(), 0)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RuntimeRequestTimeout+grace)
	defer cancel()
	insp, err := s.inspectUnlessGone(ctx, req.GetContainerId(), typeContainer)
	if err != nil {
		return nil, err
	} else if insp == nil {
		return &runtimeapi.StopContainerResponse{}, nil // gone
	}
	oomKills.stopping(insp.ID)
	if err := s.stopDockerContainer(ctx, insp.ID, grace); err != nil {
		return nil, err
	}
	s.refresh(ctx, insp.ID)
	return &runtimeapi.StopContainerResponse{}, nil
}

// RemoveContainer removes a container and its log file. Removing a missing container
// succeeds.
func (s *Service) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, err := s.inspectUnlessGone(ctx, req.GetContainerId(), typeContainer)
	if err != nil {
		return nil, err
	} else if insp == nil {
		return &runtimeapi.RemoveContainerResponse{}, nil // gone
	}
	if err := s.removeInspected(ctx, *insp); err != nil {
		return nil, err
	}
	oomKills.forget(insp.ID)
	return &runtimeapi.RemoveContainerResponse{}, nil
}

// removeContainer removes container id (force: a running one is killed), then its log.
func (s *Service) removeContainer(ctx context.Context, id string) error {
	insp, err := s.docker.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return grpcerr.Wrap(err, "inspect container "+id)
	}
	return s.removeInspected(ctx, insp)
}

func (s *Service) removeInspected(ctx context.Context, insp container.InspectResponse) error {
	s.logs.Stop(insp.ID)
	if err := s.removeFromDocker(ctx, insp.ID); err != nil {
		return grpcerr.Wrap(err, "remove container "+insp.ID)
	}
	s.refresh(ctx, insp.ID)
	if path := insp.Config.Labels[labelLogPath]; path != "" {
		if err := removeIfExists(path); err != nil {
			klog.ErrorS(err, "Remove container log", "containerID", insp.ID, "path", path)
		}
	}
	return nil
}
