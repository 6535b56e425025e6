package core

import (
	"context"

	"github.com/docker/docker/api/types/events"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/cache"
)

// eventTypes maps Docker's container actions onto the CRI's events.
var eventTypes = map[events.Action]runtimeapi.ContainerEventType{
	events.ActionCreate:  runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
	events.ActionStart:   runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
	events.ActionDie:     runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
	events.ActionDestroy: runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
}

// GetContainerEvents streams the life of every sandbox and container (created, started,
// stopped, deleted) with its pod's status, for the kubelet's evented PLEG; it comes from
// the same Docker events that keep the view current.
func (s *Service) GetContainerEvents(_ *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	changes, stop := s.view.Subscribe()
	defer stop()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ch, ok := <-changes:
			if !ok {
				return status.Error(codes.ResourceExhausted, "the event stream fell behind: list again and resubscribe")
			}
			ev := s.containerEvent(stream.Context(), ch)
			if ev == nil {
				continue
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

// containerEvent is the CRI event of a change, nil for changes the CRI has no event for.
func (s *Service) containerEvent(ctx context.Context, ch cache.Change) *runtimeapi.ContainerEventResponse {
	typ, ok := eventTypes[ch.Action]
	if !ok {
		return nil
	}
	obj := ch.Obj
	if obj == nil {
		obj = ch.Prev
	}
	if obj == nil || obj.Config == nil {
		return nil
	}
	sandboxID := obj.Config.Labels[labelSandboxID]
	if obj.Config.Labels[labelType] == typeSandbox {
		sandboxID = obj.ID
	}
	ev := &runtimeapi.ContainerEventResponse{ContainerId: ch.ID, ContainerEventType: typ, CreatedAt: ch.Time}
	if sb, err := s.view.Get(sandboxID); err == nil {
		cp, _ := s.checkpoints.Load(sb.ID)
		if st, err := sandboxStatus(*sb, cp); err == nil {
			if s.starting.has(sb.ID) {
				st.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
			}
			ev.PodSandboxStatus = st
		}
	}
	objs, err := s.viewOf(ctx, typeContainer)
	if err != nil {
		return ev
	}
	for _, c := range objs {
		if c.Config.Labels[labelSandboxID] != sandboxID {
			continue
		}
		st, err := containerStatus(*c)
		if err != nil {
			klog.V(4).InfoS("Leave a container out of an event", "containerID", c.ID, "err", err)
			continue
		}
		ev.ContainersStatuses = append(ev.ContainersStatuses, st)
	}
	return ev
}
