package core

import (
	"context"
	"strings"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
)

// ListContainers lists the pods' containers, filtered by id (full or prefix), state,
// sandbox and labels, from the view of Docker: no Docker call.
// An answer over the message limit is ResourceExhausted: the kubelet reads each
// container's annotations (its hash, restart count), so none can be left out.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	items, err := s.containerList(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	sizes, err := s.containerItems.sizes(items)
	if err != nil {
		return nil, err
	}
	if items, err = batch.Fit("ListContainers", "StreamContainers", items, sizes, nil); err != nil {
		return nil, err
	}
	return &runtimeapi.ListContainersResponse{Containers: items}, nil
}

func (s *Service) containerList(ctx context.Context, f *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	objs, gen, err := s.viewKind(ctx, typeContainer)
	if err != nil {
		return nil, err
	}
	all := s.containerItems.each(gen, objs, containerFromInspect)
	out := make([]*runtimeapi.Container, 0, len(all))
	for _, ctr := range all {
		if !strings.HasPrefix(ctr.Id, f.GetId()) || !strings.HasPrefix(ctr.PodSandboxId, f.GetPodSandboxId()) ||
			f.GetState() != nil && ctr.State != f.GetState().GetState() || !matchSelector(ctr.Labels, f.GetLabelSelector()) {
			continue
		}
		out = append(out, ctr)
	}
	return out, nil
}

func containerFromInspect(insp *container.InspectResponse) (*runtimeapi.Container, error) {
	meta, err := parseContainerName(insp.Name)
	if err != nil {
		return nil, err
	}
	labels, annotations := criLabels(insp.Config.Labels)
	image, imageRef := containerImage(insp)
	state := runtimeapi.ContainerState_CONTAINER_UNKNOWN
	if insp.State != nil {
		state = containerState(insp.State.Status)
	}
	return &runtimeapi.Container{
		Id:           insp.ID,
		PodSandboxId: insp.Config.Labels[labelSandboxID],
		Metadata:     meta,
		Image:        image,
		ImageRef:     imageRef,
		ImageId:      insp.Image,
		State:        state,
		CreatedAt:    createdAt(insp.Config.Labels, dockerTime(insp.Created)),
		Labels:       labels,
		Annotations:  annotations,
	}, nil
}

func (s *Service) StreamContainers(req *runtimeapi.StreamContainersRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	return streamList(stream.Context(), req.GetFilter(), s.containerList, s.containerItems.sizes, func(b []*runtimeapi.Container) *runtimeapi.StreamContainersResponse {
		return &runtimeapi.StreamContainersResponse{Containers: b}
	}, stream.Send)
}
