package core

import (
	"context"
	"strings"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc"
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
// metadata), until they fit (list_fit.go; sandbox_stats.go does the same).
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

func (s *Service) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	return streamList(stream.Context(), req.GetFilter(), s.containerStatsList, protoSizes, func(b []*runtimeapi.ContainerStats) *runtimeapi.StreamContainerStatsResponse {
		return &runtimeapi.StreamContainerStatsResponse{ContainerStats: b}
	}, stream.Send)
}
