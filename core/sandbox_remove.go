package core

import (
	"context"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// RemovePodSandbox removes every container of the pod, the pause container and the
// sandbox's checkpoint. Removing a sandbox that is gone succeeds.
func (s *Service) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	return unlessGone[runtimeapi.RemovePodSandboxResponse](ctx, s, req.GetPodSandboxId(), typeSandbox, s.cfg.RuntimeRequestTimeout, s.removeSandbox)
}

// removeSandbox removes the pod's containers, its network, its pause container and its
// checkpoint.
func (s *Service) removeSandbox(ctx context.Context, insp *container.InspectResponse) error {
	ids, err := s.podContainers(ctx, insp.ID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.removeContainer(ctx, id); err != nil {
			return err
		}
	}
	// Stop may have been skipped (or failed half-way): the network goes before the
	// sandbox, which holds the record of it. The sweep waits until the checkpoint is gone.
	unlock := s.netLocks.lock(insp.ID)
	defer unlock()
	if err := s.tearDownNetwork(ctx, *insp); err != nil {
		return err
	}
	if err := s.removeFromDocker(ctx, insp.ID); err != nil {
		return grpcerr.Wrap(err, "remove sandbox "+insp.ID)
	}
	s.refresh(ctx, insp.ID)
	if err := s.checkpoints.Delete(insp.ID); err != nil {
		return grpcerr.Wrap(err, "remove checkpoint of sandbox "+insp.ID)
	}
	// The old server's checkpoint of an adopted pod: its pod is gone from Docker, and a
	// move back would list it as a pod that is not ready. Not the kubelet's concern if
	// that fails (the old server's directory may be read-only): it is logged.
	for _, old := range s.oldCheckpoints {
		if err := old.Delete(insp.ID); err != nil {
			klog.ErrorS(err, "Remove the old CRI server's checkpoint of a removed pod", "podSandboxID", insp.ID)
		}
	}
	return nil
}
