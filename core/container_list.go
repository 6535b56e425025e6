package core

import (
	"context"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// ListContainers lists the pods' containers Docker has, filtered by id (full or
// prefix), state, sandbox and labels.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	args := filters.NewArgs(filters.Arg("label", labelType+"="+typeContainer))
	if f.GetId() != "" {
		args.Add("id", f.GetId())
	}
	if f.GetPodSandboxId() != "" {
		args.Add("label", labelSandboxID+"="+f.GetPodSandboxId())
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	list, err := s.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, grpcerr.Wrap(err, "list containers")
	}
	out := make([]*runtimeapi.Container, 0, len(list))
	for _, c := range list {
		ctr, err := containerFromSummary(c)
		if err != nil {
			klog.V(4).InfoS("Skipping a container-labelled container with a foreign name", "containerID", c.ID, "err", err)
			continue
		}
		if f.GetState() != nil && ctr.State != f.GetState().GetState() {
			continue
		}
		if !matchSelector(ctr.Labels, f.GetLabelSelector()) {
			continue
		}
		out = append(out, ctr)
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

func containerFromSummary(c container.Summary) (*runtimeapi.Container, error) {
	if len(c.Names) == 0 {
		return nil, errNoName
	}
	meta, err := parseContainerName(c.Names[0])
	if err != nil {
		return nil, err
	}
	labels, annotations := criLabels(c.Labels)
	return &runtimeapi.Container{
		Id:           c.ID,
		PodSandboxId: c.Labels[labelSandboxID],
		Metadata:     meta,
		Image:        &runtimeapi.ImageSpec{Image: c.Image},
		ImageRef:     c.ImageID,
		ImageId:      c.ImageID,
		State:        containerState(c.State),
		CreatedAt:    createdAt(c.Labels, c.Created*1e9),
		Labels:       labels,
		Annotations:  annotations,
	}, nil
}
