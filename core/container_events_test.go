package core

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
)

// bigEvent is the event of container c0 of a pod of n containers, each with an
// annotation of each bytes beside the kubelet's own keys; kubeletValue sizes those.
func bigEvent(n, each, kubeletValue int) *runtimeapi.ContainerEventResponse {
	ev := &runtimeapi.ContainerEventResponse{
		ContainerId: "c0",
		PodSandboxStatus: &runtimeapi.PodSandboxStatus{
			Id: "pod", Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u"},
			Labels:      map[string]string{"io.kubernetes.pod.uid": "u", "app": "web"},
			Annotations: map[string]string{"big": strings.Repeat("s", each)},
		},
	}
	for i := range n {
		ev.ContainersStatuses = append(ev.ContainersStatuses, &runtimeapi.ContainerStatus{
			Id:          fmt.Sprintf("c%d", i),
			Labels:      map[string]string{"io.kubernetes.container.name": fmt.Sprintf("c%d", i), "user": "x"},
			Annotations: map[string]string{"big": strings.Repeat("a", each), "io.kubernetes.container.hash": strings.Repeat("h", kubeletValue)},
		})
	}
	return ev
}

func TestFitEvent(t *testing.T) {
	small := bigEvent(3, 1000, 8)
	if got := fitEvent(proto.Clone(small).(*runtimeapi.ContainerEventResponse)); !proto.Equal(got, small) {
		t.Errorf("an event within the limit was changed")
	}

	// 80 containers of 250 KiB: 20 MiB. What the kubelet set stays, the rest is marked.
	ev := fitEvent(bigEvent(80, 250<<10, 8))
	if n := proto.Size(ev); n > batch.MaxMessage {
		t.Fatalf("fitted event is %d bytes", n)
	}
	if len(ev.ContainersStatuses) != 80 {
		t.Errorf("%d container statuses, want all 80", len(ev.ContainersStatuses))
	}
	for _, st := range ev.ContainersStatuses {
		if st.Labels["io.kubernetes.container.name"] != st.Id || st.Labels["user"] != "" ||
			len(st.Annotations["io.kubernetes.container.hash"]) != 8 || st.Annotations["big"] != "" || st.Annotations[annotationsOmitted] == "" {
			t.Errorf("container %s: labels %v, annotations %d keys", st.Id, st.Labels, len(st.Annotations))
		}
	}
	sb := ev.PodSandboxStatus
	if sb.Metadata.GetUid() != "u" || sb.Labels["io.kubernetes.pod.uid"] != "u" || sb.Annotations["big"] != "" || sb.Annotations[annotationsOmitted] == "" {
		t.Errorf("sandbox status: %v, annotations %d keys", sb.Metadata, len(sb.Annotations))
	}

	// The kubelet's own keys too big for all: the event's own container is kept.
	ev = fitEvent(bigEvent(80, 1000, 250<<10))
	if n := proto.Size(ev); n > batch.MaxMessage {
		t.Fatalf("fitted event is %d bytes", n)
	}
	if len(ev.ContainersStatuses) != 1 || ev.ContainersStatuses[0].Id != "c0" || ev.PodSandboxStatus.GetMetadata().GetUid() != "u" {
		t.Errorf("got %d statuses, pod %v; want c0's alone and the pod", len(ev.ContainersStatuses), ev.PodSandboxStatus.GetMetadata())
	}
}
