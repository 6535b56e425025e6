package core

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopContainer stops a container with its image's STOPSIGNAL (else SIGTERM), then
// SIGKILL after the timeout. Stopping a stopped or missing container succeeds.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	grace := time.Duration(max(req.GetTimeout(), 0)) * time.Second
	return unlessGone[runtimeapi.StopContainerResponse](ctx, s, req.GetContainerId(), typeContainer, s.cfg.RuntimeRequestTimeout+grace,
		func(ctx context.Context, insp *container.InspectResponse) error {
			oomKills.stopping(insp.ID)
			if err := s.stopDockerContainer(ctx, insp.ID, grace); err != nil {
				return err
			}
			s.refresh(ctx, insp.ID)
			return nil
		})
}
