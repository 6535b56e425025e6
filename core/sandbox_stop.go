package core

import (
	"context"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// sandboxStopGrace is how long a pod's leftover containers get to stop when the
// sandbox stops; the kubelet has normally stopped them, each with its own grace period.
const sandboxStopGrace = 10 * time.Second

// StopPodSandbox stops every container of the pod, then the pause container. A sandbox
// that is gone is stopped already.
func (s *Service) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	return unlessGone[runtimeapi.StopPodSandboxResponse](ctx, s, req.GetPodSandboxId(), typeSandbox, s.cfg.RuntimeRequestTimeout+sandboxStopGrace, s.stopSandbox)
}

// stopSandbox stops the pod's containers, tears its network down and stops its pause
// container.
func (s *Service) stopSandbox(ctx context.Context, insp *container.InspectResponse) error {
	ids, err := s.podContainers(ctx, insp.ID)
	if err != nil {
		return err
	}
	// The containers stop together, each with its grace period, then the pause container.
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = s.stopDockerContainer(ctx, id, sandboxStopGrace) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	// While the pause container runs, the plugins find the pod's interfaces in its
	// namespace; a stopped one is torn down all the same.
	unlock := s.netLocks.lock(insp.ID)
	err = s.tearDownNetwork(ctx, *insp)
	unlock()
	if err != nil {
		return err
	}
	if err := s.stopDockerContainer(ctx, insp.ID, sandboxStopGrace); err != nil {
		return err
	}
	for _, id := range append(ids, insp.ID) {
		s.refresh(ctx, id)
	}
	return nil
}

// podContainers lists the ids of the pod's containers, in any state.
func (s *Service) podContainers(ctx context.Context, sandboxID string) ([]string, error) {
	list, err := s.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", labelType+"="+typeContainer),
		filters.Arg("label", labelSandboxID+"="+sandboxID),
	)})
	if err != nil {
		return nil, grpcerr.Wrap(err, "list containers of sandbox "+sandboxID)
	}
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// stopDockerContainer stops a container with Docker's stop: its image's STOPSIGNAL (else
// SIGTERM), then SIGKILL after grace. A container that is gone or stopped is no error.
func (s *Service) stopDockerContainer(ctx context.Context, id string, grace time.Duration) error {
	secs := int(grace / time.Second)
	err := s.docker.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return grpcerr.Wrap(err, "stop "+id)
	}
	return nil
}
