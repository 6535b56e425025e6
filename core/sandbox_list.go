package core

import (
	"context"
	"strings"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
)

// ListPodSandbox lists the sandboxes, dockercri's and cri-dockerd's alike (they carry
// the same labels), filtered by id (full or prefix), state and labels, from the view of
// Docker: no Docker call.
// An answer over the message limit leaves out the annotations of its biggest
// sandboxes, which the kubelet never reads from the list (it has its pods' own), until
// it fits (list_fit.go).
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	items, err := s.sandboxList(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	sizes, err := s.sandboxItems.sizes(items)
	if err != nil {
		return nil, err
	}
	if items, err = batch.Fit("ListPodSandbox", "StreamPodSandboxes", items, sizes, sandboxWithoutAnnotations); err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxResponse{Items: items}, nil
}

func (s *Service) sandboxList(ctx context.Context, f *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	objs, gen, err := s.viewKind(ctx, typeSandbox)
	if err != nil {
		return nil, err
	}
	all := s.sandboxItems.each(gen, objs, sandboxFromInspect)
	items := make([]*runtimeapi.PodSandbox, 0, len(all))
	for _, sb := range all {
		if !strings.HasPrefix(sb.Id, f.GetId()) || f.GetState() != nil && sb.State != f.GetState().GetState() || !matchSelector(sb.Labels, f.GetLabelSelector()) ||
			s.starting.has(sb.Id) {
			continue
		}
		items = append(items, sb)
	}
	return items, nil
}

func sandboxFromInspect(insp *container.InspectResponse) (*runtimeapi.PodSandbox, error) {
	meta, err := parseSandboxName(insp.Name)
	if err != nil {
		return nil, err
	}
	labels, annotations := criLabels(insp.Config.Labels)
	return &runtimeapi.PodSandbox{
		Id:             insp.ID,
		Metadata:       meta,
		State:          sandboxState(insp.State != nil && insp.State.Running),
		CreatedAt:      createdAt(insp.Config.Labels, dockerTime(insp.Created)),
		Labels:         labels,
		Annotations:    annotations,
		RuntimeHandler: insp.Config.Labels[labelRuntimeHandler],
	}, nil
}

func (s *Service) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	return streamList(stream.Context(), req.GetFilter(), s.sandboxList, s.sandboxItems.sizes, func(b []*runtimeapi.PodSandbox) *runtimeapi.StreamPodSandboxesResponse {
		return &runtimeapi.StreamPodSandboxesResponse{PodSandboxes: b}
	}, stream.Send)
}
