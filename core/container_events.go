package core

import (
	"context"
	"maps"
	"strings"

	"github.com/docker/docker/api/types/events"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/batch"
	"github.com/dockercri/dockercri/core/dockerview"
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
	// The header tells the client it is subscribed: every change from here on reaches it.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
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
			if err := stream.Send(fitEvent(ev)); err != nil {
				return err
			}
		}
	}
}

// containerEvent is the CRI event of a change, nil for changes the CRI has no event for.
func (s *Service) containerEvent(ctx context.Context, ch dockerview.Change) *runtimeapi.ContainerEventResponse {
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
		if st, err := sandboxStatus(*sb, s.sandboxIPs(*sb, cp)); err == nil {
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

// fitEvent keeps an event within the kubelet's message limit: a pod of many containers
// with big annotations (each within Kubernetes' 256 KiB) makes its events bigger than
// 16 MiB, which the kubelet's client refuses, ending its stream. The kubelet reads the
// event's pod and, from each container status, the labels and annotations it set
// itself (io.kubernetes.*), so the others are left out first, marked; if that is not
// enough, the event keeps the status of its own container only.
func fitEvent(ev *runtimeapi.ContainerEventResponse) *runtimeapi.ContainerEventResponse {
	if proto.Size(ev) <= batch.MaxMessage {
		return ev
	}
	if st := ev.PodSandboxStatus; st != nil {
		st.Labels, st.Annotations = kubeletKeys(st.Labels, nil), kubeletKeys(st.Annotations, omittedNote)
	}
	for _, st := range ev.ContainersStatuses {
		st.Labels, st.Annotations = kubeletKeys(st.Labels, nil), kubeletKeys(st.Annotations, omittedNote)
	}
	if proto.Size(ev) <= batch.MaxMessage {
		return ev
	}
	own := ev.ContainersStatuses[:0]
	for _, st := range ev.ContainersStatuses {
		if st.Id == ev.ContainerId {
			own = append(own, st)
		}
	}
	ev.ContainersStatuses = own
	return ev
}

// kubeletKeys are the entries of m the kubelet set (io.kubernetes.*), with note when
// others were left out.
func kubeletKeys(m, note map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if strings.HasPrefix(k, "io.kubernetes.") {
			out[k] = v
		}
	}
	if len(out) < len(m) {
		maps.Copy(out, note)
	}
	return out
}
