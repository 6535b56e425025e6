package core

import (
	"context"
	"errors"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// ListPodSandbox lists the sandboxes Docker has, dockercri's and cri-dockerd's alike
// (they carry the same labels), filtered by id (full or prefix), state and labels.
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f := req.GetFilter()
	args := filters.NewArgs(filters.Arg("label", labelType+"="+typeSandbox))
	if f.GetId() != "" {
		args.Add("id", f.GetId())
	}
	opts := container.ListOptions{All: true, Filters: args}
	if f.GetState() != nil && f.GetState().GetState() == runtimeapi.PodSandboxState_SANDBOX_READY {
		opts.All = false // running ones only
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	list, err := s.docker.ContainerList(ctx, opts)
	if err != nil {
		return nil, grpcerr.Wrap(err, "list sandboxes")
	}
	items := make([]*runtimeapi.PodSandbox, 0, len(list))
	for _, c := range list {
		sb, err := s.sandboxFromSummary(c)
		if err != nil {
			klog.V(4).InfoS("Skipping a sandbox-labelled container with a foreign name", "containerID", c.ID, "err", err)
			continue
		}
		if f.GetState() != nil && sb.State != f.GetState().GetState() {
			continue
		}
		if !matchSelector(sb.Labels, f.GetLabelSelector()) {
			continue
		}
		items = append(items, sb)
	}
	return &runtimeapi.ListPodSandboxResponse{Items: items}, nil
}

var errNoName = errors.New("container has no name")

func (s *Service) sandboxFromSummary(c container.Summary) (*runtimeapi.PodSandbox, error) {
	if len(c.Names) == 0 {
		return nil, errNoName
	}
	meta, err := parseSandboxName(c.Names[0])
	if err != nil {
		return nil, err
	}
	labels, annotations := criLabels(c.Labels)
	sb := &runtimeapi.PodSandbox{
		Id:             c.ID,
		Metadata:       meta,
		State:          sandboxState(c.State == "running"),
		CreatedAt:      createdAt(c.Labels, c.Created*1e9),
		Labels:         labels,
		Annotations:    annotations,
		RuntimeHandler: c.Labels[labelRuntimeHandler],
	}
	return sb, nil
}
