package core

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
)

// The Stream* RPCs send what their List counterparts answer, whole (nothing trimmed),
// in messages bounded by count and bytes (core/batch), for nodes whose lists outgrow
// one gRPC message.

func (s *Service) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	items, err := s.sandboxList(stream.Context(), req.GetFilter())
	if err != nil {
		return err
	}
	sizes, err := s.sandboxItems.sizes(items)
	if err != nil {
		return err
	}
	return batch.Send(items, sizes, func(b []*runtimeapi.PodSandbox) *runtimeapi.StreamPodSandboxesResponse {
		return &runtimeapi.StreamPodSandboxesResponse{PodSandboxes: b}
	}, stream.Send)
}

func (s *Service) StreamContainers(req *runtimeapi.StreamContainersRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	items, err := s.containerList(stream.Context(), req.GetFilter())
	if err != nil {
		return err
	}
	sizes, err := s.containerItems.sizes(items)
	if err != nil {
		return err
	}
	return batch.Send(items, sizes, func(b []*runtimeapi.Container) *runtimeapi.StreamContainersResponse {
		return &runtimeapi.StreamContainersResponse{Containers: b}
	}, stream.Send)
}

func (s *Service) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	out, err := s.containerStatsList(stream.Context(), req.GetFilter())
	if err != nil {
		return err
	}
	return batch.Send(out, batch.ProtoSizes(out), func(b []*runtimeapi.ContainerStats) *runtimeapi.StreamContainerStatsResponse {
		return &runtimeapi.StreamContainerStatsResponse{ContainerStats: b}
	}, stream.Send)
}

func (s *Service) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	out, err := s.sandboxStatsList(stream.Context(), req.GetFilter())
	if err != nil {
		return err
	}
	return batch.Send(out, batch.ProtoSizes(out), func(b []*runtimeapi.PodSandboxStats) *runtimeapi.StreamPodSandboxStatsResponse {
		return &runtimeapi.StreamPodSandboxStatsResponse{PodSandboxStats: b}
	}, stream.Send)
}
