package core

import (
	"context"
	"strings"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
)

// The pod stats RPCs read the kernel (core/stats) for the objects of the view, as the
// container stats do (container_stats.go).

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

func (s *Service) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	return streamList(stream.Context(), req.GetFilter(), s.sandboxStatsList, protoSizes, func(b []*runtimeapi.PodSandboxStats) *runtimeapi.StreamPodSandboxStatsResponse {
		return &runtimeapi.StreamPodSandboxStatsResponse{PodSandboxStats: b}
	}, stream.Send)
}
