package core

import (
	"context"
	"strings"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
)

// The stats RPCs read the kernel (core/stats) for the objects of the view: no Docker
// call at all.

func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	insp, err := s.inspectKind(ctx, req.GetContainerId(), typeContainer)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: s.containerStats(&insp)}, nil
}

// The stats lists over the message limit leave out the annotations of the biggest
// items' attributes, which the kubelet never reads there (only their ids and
// metadata), until they fit (lists.go).
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	out, err := s.containerStatsList(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	if out, err = batch.Fit("ListContainerStats", "StreamContainerStats", out, batch.ProtoSizes(out), containerStatsWithoutAnnotations); err != nil {
		return nil, err
	}
	return &runtimeapi.ListContainerStatsResponse{Stats: out}, nil
}

func (s *Service) containerStatsList(ctx context.Context, f *runtimeapi.ContainerStatsFilter) ([]*runtimeapi.ContainerStats, error) {
	objs, err := s.viewOf(ctx, typeContainer)
	if err != nil {
		return nil, err
	}
	var out []*runtimeapi.ContainerStats
	for _, obj := range objs {
		if !running(obj) || !strings.HasPrefix(obj.ID, f.GetId()) || !strings.HasPrefix(obj.Config.Labels[labelSandboxID], f.GetPodSandboxId()) {
			continue
		}
		if st := s.containerStats(obj); st != nil && matchSelector(st.Attributes.Labels, f.GetLabelSelector()) {
			out = append(out, st)
		}
	}
	return out, nil
}

func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	insp, err := s.inspectKind(ctx, req.GetPodSandboxId(), typeSandbox)
	if err != nil {
		return nil, err
	}
	containers, err := s.viewOf(ctx, typeContainer)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: s.sandboxStats(&insp, containers)}, nil
}

func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	out, err := s.sandboxStatsList(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	if out, err = batch.Fit("ListPodSandboxStats", "StreamPodSandboxStats", out, batch.ProtoSizes(out), sandboxStatsWithoutAnnotations); err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: out}, nil
}

func (s *Service) sandboxStatsList(ctx context.Context, f *runtimeapi.PodSandboxStatsFilter) ([]*runtimeapi.PodSandboxStats, error) {
	sandboxes, containers, err := s.podsView(ctx)
	if err != nil {
		return nil, err
	}
	var out []*runtimeapi.PodSandboxStats
	for _, sb := range sandboxes {
		if !running(sb) || !strings.HasPrefix(sb.ID, f.GetId()) {
			continue
		}
		if st := s.sandboxStats(sb, containers); st != nil && matchSelector(st.Attributes.Labels, f.GetLabelSelector()) {
			out = append(out, st)
		}
	}
	return out, nil
}

func running(insp *container.InspectResponse) bool { return insp.State != nil && insp.State.Running }

// containerStats is nil for a container whose name is not dockershim's.
func (s *Service) containerStats(insp *container.InspectResponse) *runtimeapi.ContainerStats {
	meta, err := parseContainerName(insp.Name)
	if err != nil {
		return nil
	}
	labels, annotations := criLabels(insp.Config.Labels)
	return s.stats.Container(insp, &runtimeapi.ContainerAttributes{Id: insp.ID, Metadata: meta, Labels: labels, Annotations: annotations})
}

// sandboxStats is the pod's stats with its running containers' among all containers.
func (s *Service) sandboxStats(sb *container.InspectResponse, containers []*container.InspectResponse) *runtimeapi.PodSandboxStats {
	meta, err := parseSandboxName(sb.Name)
	if err != nil {
		return nil
	}
	var cs []*runtimeapi.ContainerStats
	for _, c := range containers {
		if c.Config.Labels[labelSandboxID] == sb.ID && running(c) {
			if st := s.containerStats(c); st != nil {
				cs = append(cs, st)
			}
		}
	}
	labels, annotations := criLabels(sb.Config.Labels)
	return s.stats.Sandbox(sb, &runtimeapi.PodSandboxAttributes{Id: sb.ID, Metadata: meta, Labels: labels, Annotations: annotations}, cs)
}

// UpdatePodSandboxResources is accepted: the kubelet resizes the pod's cgroup itself,
// and Docker keeps nothing per pod that would need changing with it.
func (s *Service) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	if _, err := s.inspectKind(ctx, req.GetPodSandboxId(), typeSandbox); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
