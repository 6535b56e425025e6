package core

import (
	"context"
	"strings"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandbox lists the sandboxes, dockercri's and cri-dockerd's alike (they carry
// the same labels), filtered by id (full or prefix), state and labels, from the view of
// Docker: no Docker call.
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f := req.GetFilter()
	objs, gen, err := s.viewKind(ctx, typeSandbox)
	if err != nil {
		return nil, err
	}
	all := s.sandboxItems.each(gen, objs, sandboxFromInspect)
	items := make([]*runtimeapi.PodSandbox, 0, len(all))
	for _, sb := range all {
		if !strings.HasPrefix(sb.Id, f.GetId()) || f.GetState() != nil && sb.State != f.GetState().GetState() || !matchSelector(sb.Labels, f.GetLabelSelector()) {
			continue
		}
		items = append(items, sb)
	}
	return &runtimeapi.ListPodSandboxResponse{Items: items}, nil
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
