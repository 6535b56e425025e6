package core

import (
	"context"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// RemoveContainer removes a container and its log file. Removing a missing container
// succeeds.
func (s *Service) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	return unlessGone[runtimeapi.RemoveContainerResponse](ctx, s, req.GetContainerId(), typeContainer, s.cfg.RuntimeRequestTimeout,
		func(ctx context.Context, insp *container.InspectResponse) error {
			if err := s.removeInspected(ctx, *insp); err != nil {
				return err
			}
			oomKills.forget(insp.ID)
			return nil
		})
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
