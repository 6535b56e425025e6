//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Lists of pods whose annotations pass the kubelet's 16 MiB message limit together
// (70 pods of 250 KiB each, each within Kubernetes' 256 KiB) still reach the kubelet's
// client: the unary lists leave out the annotations of the biggest sandboxes, marked
// (the kubelet never reads them there), and the Stream* RPCs, which the kubelet uses
// with CRIListStreaming, send everything whole in messages within the limit. So many
// containers, whose annotations the kubelet reads, are ResourceExhausted naming
// StreamContainers. Before, the unary lists failed with gRPC's ResourceExhausted at
// every call (the kubelet's relist, then its node, would fail) and a stream message
// of 100 such pods was 25 MiB, which the client refused.
func TestListsFitTheWire(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	const pods, each = 70, 250 << 10
	selector := map[string]string{"dockercri-test": "fat-" + env.Prefix}
	annotation := strings.Repeat("a", each)

	// Four at a time: the pods are what the test needs, not how they start.
	ids := make([]string, pods)
	errs := make([]error, pods)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				cfg := env.SandboxConfig(t, "fat")
				cfg.Labels["dockercri-test"] = selector["dockercri-test"]
				cfg.Annotations = map[string]string{"big": annotation}
				ids[i], errs[i] = rt.RunPodSandbox(ctx(t), cfg, "")
			}
		}()
	}
	for i := range pods {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Cleanup(func() {
		for _, id := range ids {
			if id == "" {
				continue
			}
			if err := rt.StopPodSandbox(ctx(t), id); err != nil {
				t.Errorf("cleanup: stop sandbox: %v", err)
			}
			if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
				t.Errorf("cleanup: remove sandbox: %v", err)
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("RunPodSandbox %d: %v", i, err)
		}
	}

	filter := &runtimeapi.PodSandboxFilter{LabelSelector: selector}
	list, err := rt.ListPodSandbox(ctx(t), filter)
	if err != nil {
		t.Fatalf("ListPodSandbox of %d pods of %d KiB of annotations: %v", pods, each>>10, err)
	}
	whole, omitted := 0, 0
	for _, sb := range list {
		switch {
		case sb.Annotations["big"] == annotation:
			whole++
		case sb.Annotations["io.dockercri.annotations-omitted"] != "" && len(sb.Annotations) == 1:
			omitted++
			st, err := rt.PodSandboxStatus(ctx(t), sb.Id, false)
			if err != nil || st.GetStatus().GetAnnotations()["big"] != annotation {
				t.Errorf("the status of %s, whose annotations the list left out, lacks them too: %v", sb.Id, err)
			}
		default:
			t.Errorf("sandbox %s listed with annotations %d keys, neither whole nor marked", sb.Id, len(sb.Annotations))
		}
	}
	if len(list) != pods || omitted == 0 || whole < pods-10 {
		t.Errorf("ListPodSandbox: %d pods, %d whole, %d without annotations; want %d, a few of them without", len(list), whole, omitted, pods)
	}
	stats, err := rt.ListPodSandboxStats(ctx(t), &runtimeapi.PodSandboxStatsFilter{LabelSelector: selector})
	if err != nil || len(stats) != pods {
		t.Errorf("ListPodSandboxStats: %d, %v; want %d", len(stats), err, pods)
	}

	// The kubelet's client with its streaming (CRIListStreaming) gets all whole.
	streaming, err := remote.NewRemoteRuntimeServiceBuilder().WithEndpoint(d.Endpoint).
		WithConnectionTimeout(2 * time.Minute).WithTracerProvider(nil).WithUseStreaming(true).Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := streaming.ListPodSandbox(ctx(t), filter)
	if err != nil {
		t.Fatalf("StreamPodSandboxes: %v", err)
	}
	for _, sb := range streamed {
		if sb.Annotations["big"] != annotation {
			t.Errorf("StreamPodSandboxes: %s without its annotations", sb.Id)
		}
	}
	if len(streamed) != pods {
		t.Errorf("StreamPodSandboxes: %d pods, want %d", len(streamed), pods)
	}
	streamedStats, err := streaming.ListPodSandboxStats(ctx(t), &runtimeapi.PodSandboxStatsFilter{LabelSelector: selector})
	if err != nil || len(streamedStats) != pods {
		t.Errorf("StreamPodSandboxStats: %d, %v; want %d", len(streamedStats), err, pods)
	}
	for _, st := range streamedStats {
		if st.GetAttributes().GetAnnotations()["big"] != annotation {
			t.Errorf("StreamPodSandboxStats: %s without its annotations", st.GetAttributes().GetId())
		}
	}

	// Containers: the kubelet reads their annotations (hash, restart count), so a
	// unary list over the limit is ResourceExhausted naming the stream, which has them.
	ref := pullBusybox(t, d.Images(t))
	cfg, err := rt.PodSandboxStatus(ctx(t), ids[0], false)
	if err != nil {
		t.Fatal(err)
	}
	podCfg := &runtimeapi.PodSandboxConfig{Metadata: cfg.GetStatus().GetMetadata()}
	// Each event carries the statuses of its pod's containers: past 64 of these they
	// exceed the limit, and the kubelet's client (16 MiB) would end its stream.
	events := watchEvents(t, d)
	created := map[string]bool{}
	for i := range pods {
		c := framework.ContainerConfig(fmt.Sprintf("c%d", i), ref, "true")
		c.LogPath = ""
		c.Annotations = map[string]string{"big": annotation}
		id, err := rt.CreateContainer(ctx(t), ids[0], c, podCfg)
		if err != nil {
			t.Fatalf("CreateContainer %d: %v", i, err)
		}
		created[id] = true
	}
	for timeout := time.After(time.Minute); len(created) > 0; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the event stream ended with %d containers' events to come", len(created))
			}
			if ev.GetContainerEventType() == runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT && created[ev.GetContainerId()] {
				if ev.GetPodSandboxStatus().GetId() != ids[0] {
					t.Errorf("event of %s: pod %q, want %s", ev.GetContainerId(), ev.GetPodSandboxStatus().GetId(), ids[0])
				}
				delete(created, ev.GetContainerId())
			}
		case <-timeout:
			t.Fatalf("no CREATED event for %d of the %d containers", len(created), pods)
		}
	}
	cfilter := &runtimeapi.ContainerFilter{PodSandboxId: ids[0]}
	_, err = rt.ListContainers(ctx(t), cfilter)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "StreamContainers") {
		t.Errorf("ListContainers of %d containers of %d KiB of annotations: %v; want ResourceExhausted naming StreamContainers", pods, each>>10, err)
	}
	containers, err := streaming.ListContainers(ctx(t), cfilter)
	if err != nil || len(containers) != pods {
		t.Fatalf("StreamContainers: %d, %v; want %d", len(containers), err, pods)
	}
	for _, c := range containers {
		if c.Annotations["big"] != annotation {
			t.Errorf("StreamContainers: %s without its annotations", c.Id)
		}
	}
}
