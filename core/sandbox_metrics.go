package core

import (
	"context"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
	"github.com/dockercri/dockercri/core/podmetrics"
)

// The metrics RPCs serve the same kernel readings as the stats RPCs, under cAdvisor's
// metric names (core/podmetrics), for the kubelet's /metrics/cadvisor.

func (s *Service) ListMetricDescriptors(context.Context, *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return &runtimeapi.ListMetricDescriptorsResponse{Descriptors: podmetrics.Descriptors()}, nil
}

func (s *Service) ListPodSandboxMetrics(ctx context.Context, _ *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	out, err := s.podMetricsList(ctx)
	if err != nil {
		return nil, err
	}
	if out, err = batch.Fit("ListPodSandboxMetrics", "StreamPodSandboxMetrics", out, batch.ProtoSizes(out), nil); err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxMetricsResponse{PodMetrics: out}, nil
}

func (s *Service) podMetricsList(ctx context.Context) ([]*runtimeapi.PodSandboxMetrics, error) {
	sandboxes, containers, err := s.podsView(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*container.InspectResponse, len(containers))
	for _, c := range containers {
		byID[c.ID] = c
	}
	now := time.Now()
	var out []*runtimeapi.PodSandboxMetrics
	for _, sb := range sandboxes {
		if !running(sb) {
			continue
		}
		st := s.sandboxStats(sb, containers)
		if st == nil {
			continue
		}
		out = append(out, podmetrics.ForPod(s.metricsPod(sb, st, byID), now))
	}
	return out, nil
}

func (s *Service) StreamPodSandboxMetrics(_ *runtimeapi.StreamPodSandboxMetricsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	out, err := s.podMetricsList(stream.Context())
	if err != nil {
		return err
	}
	return batch.Send(out, batch.ProtoSizes(out), func(b []*runtimeapi.PodSandboxMetrics) *runtimeapi.StreamPodSandboxMetricsResponse {
		return &runtimeapi.StreamPodSandboxMetricsResponse{PodSandboxMetrics: b}
	}, stream.Send)
}

// defaultCPUPeriod is the kernel's CFS period (100 ms), in force when none is set.
const defaultCPUPeriod = 100000

// metricsPod names the series of a pod and its containers the way cAdvisor did under
// dockershim: Docker names without the slash, the pod cgroup by its path.
func (s *Service) metricsPod(sb *container.InspectResponse, st *runtimeapi.PodSandboxStats, byID map[string]*container.InspectResponse) podmetrics.Pod {
	meta := st.GetAttributes().GetMetadata()
	cgroupID := sb.ID
	if sb.HostConfig != nil && sb.HostConfig.CgroupParent != "" {
		// cAdvisor named the pod cgroup by its path, a systemd slice too.
		cgroupID = cgroupfsPath(sb.HostConfig.CgroupParent)
	}
	p := podmetrics.Pod{
		SandboxID: sb.ID,
		Cgroup:    podmetrics.Object{ID: cgroupID, Namespace: meta.GetNamespace(), Pod: meta.GetName()},
		Sandbox:   podmetrics.Object{Container: sandboxContainerName, ID: sb.ID, Image: sb.Config.Image, Name: strings.TrimPrefix(sb.Name, "/"), Namespace: meta.GetNamespace(), Pod: meta.GetName()},
		Stats:     st,
		IO:        s.stats.PodIO(sb),
	}
	for _, cs := range st.GetLinux().GetContainers() {
		insp := byID[cs.GetAttributes().GetId()]
		if insp == nil {
			continue
		}
		c := podmetrics.Container{
			Object: podmetrics.Object{Container: cs.GetAttributes().GetMetadata().GetName(), ID: insp.ID, Image: insp.Config.Image, Name: strings.TrimPrefix(insp.Name, "/"), Namespace: meta.GetNamespace(), Pod: meta.GetName()},
			Stats:  cs,
			IO:     s.stats.ContainerIO(insp),
		}
		if hc := insp.HostConfig; hc != nil {
			c.MemoryLimit, c.CPUShares, c.CPUQuota, c.CPUPeriod = uint64(hc.Memory), uint64(hc.CPUShares), uint64(max(hc.CPUQuota, 0)), uint64(hc.CPUPeriod)
			if c.CPUPeriod == 0 {
				c.CPUPeriod = defaultCPUPeriod
			}
		}
		if t, err := time.Parse(time.RFC3339Nano, insp.State.StartedAt); err == nil {
			c.Started = t
		}
		p.Containers = append(p.Containers, c)
	}
	return p
}
