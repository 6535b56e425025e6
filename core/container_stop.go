package core

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
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
