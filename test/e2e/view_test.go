//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
	"github.com/dockercri/dockercri/test/e2e/framework"
)

// dockerView is Docker's own list of a pod's containers: id → CRI state.
func dockerView(t *testing.T, sandboxID string) map[string]runtimeapi.ContainerState {
	t.Helper()
	list, err := env.Docker.Client.ContainerList(ctx(t), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.kubernetes.sandbox.id="+sandboxID))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]runtimeapi.ContainerState{}
	for _, c := range list {
		st := runtimeapi.ContainerState_CONTAINER_UNKNOWN
		switch c.State {
		case "created":
			st = runtimeapi.ContainerState_CONTAINER_CREATED
		case "running":
			st = runtimeapi.ContainerState_CONTAINER_RUNNING
		case "exited", "dead":
			st = runtimeapi.ContainerState_CONTAINER_EXITED
		}
		out[c.ID] = st
	}
	return out
}

// criView is dockercri's list of the pod's containers: id → state, and each one's
// status agreeing with its list entry.
func criView(t *testing.T, p *pod) map[string]runtimeapi.ContainerState {
	t.Helper()
	cs, err := p.rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{PodSandboxId: p.id})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]runtimeapi.ContainerState{}
	for _, c := range cs {
		out[c.Id] = c.State
	}
	return out
}

// sameView waits (events travel) for dockercri's list to agree with Docker's.
func sameView(t *testing.T, p *pod, what string) {
	t.Helper()
	err := framework.WaitFor(5*time.Second, func() error {
		d, c := dockerView(t, p.id), criView(t, p)
		if fmt.Sprint(d) != fmt.Sprint(c) {
			return fmt.Errorf("docker %v, dockercri %v", d, c)
		}
		for id, want := range d {
			st, err := p.rt.ContainerStatus(ctx(t), id, false)
			if err != nil || st.GetStatus().GetState() != want {
				return fmt.Errorf("status of %s: %v, %v; want %s", id[:12], st.GetStatus().GetState(), err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("after %s: %v", what, err)
	}
}

// Lists and statuses come from dockercri's view of Docker, fed by Docker's events:
// containers killed, removed and created behind its back with Docker show at once.
func TestViewFollowsDockerChurn(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))
	p := runPod(t, rt, env.SandboxConfig(t, "churn"))
	var ids []string
	for i := range 4 {
		ids = append(ids, p.start(t, framework.ContainerConfig(fmt.Sprintf("c%d", i), ref, "exec sleep 3600")))
	}
	sameView(t, p, "start")

	if err := env.Docker.Client.ContainerKill(ctx(t), ids[0], "KILL"); err != nil {
		t.Fatal(err)
	}
	sameView(t, p, "docker kill")
	if err := env.Docker.Client.ContainerRemove(ctx(t), ids[1], container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	sameView(t, p, "docker rm -f")
	_, err := rt.ContainerStatus(ctx(t), ids[1], false)
	wantCode(t, err, codes.NotFound, "status of a container removed with docker")

	// A container made by someone else, with the pod's labels and a dockershim name.
	m := p.cfg.GetMetadata()
	foreign, err := env.Docker.Client.ContainerCreate(ctx(t), &container.Config{Image: ref, Cmd: []string{"sleep", "3600"}, Labels: map[string]string{
		"io.kubernetes.docker.type": "container", "io.kubernetes.sandbox.id": p.id, "io.kubernetes.container.name": "foreign",
	}}, &container.HostConfig{NetworkMode: container.NetworkMode("container:" + p.id)}, nil, nil, fmt.Sprintf("k8s_foreign_%s_%s_%s_0", m.Name, m.Namespace, m.Uid))
	if err != nil {
		t.Fatal(err)
	}
	sameView(t, p, "docker create")
	if err := env.Docker.Client.ContainerStart(ctx(t), foreign.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	sameView(t, p, "docker start")
	if err := env.Docker.Client.ContainerStop(ctx(t), ids[2], container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	sameView(t, p, "docker stop")
	sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{Id: p.id})
	if err != nil || len(sbs) != 1 || sbs[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("sandbox list: %v, %v", sbs, err)
	}
	if err := env.Docker.Client.ContainerKill(ctx(t), p.id, "KILL"); err != nil {
		t.Fatal(err)
	}
	if err := framework.WaitFor(5*time.Second, func() error {
		sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{Id: p.id, State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}})
		if err != nil || len(sbs) != 1 {
			return fmt.Errorf("NOTREADY sandboxes %v, %v", sbs, err)
		}
		return nil
	}); err != nil {
		t.Errorf("pause killed with docker: %v", err)
	}
}

// GetContainerEvents streams a container's life in order, each event with its pod's
// sandbox and containers' statuses.
func TestContainerEvents(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))
	p := runPod(t, rt, env.SandboxConfig(t, "events"))
	got := watchEvents(t, d)
	// Each step waits for its event: an event carries the pod's state when dockercri
	// sends it, which on a busy machine can be after the next step.
	var last int64
	expect := func(cid string, want runtimeapi.ContainerEventType) {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case ev, ok := <-got:
				if !ok {
					t.Fatalf("event stream ended before %s", want)
				}
				if ev.GetContainerId() != cid {
					continue
				}
				if typ := ev.GetContainerEventType(); typ != want {
					t.Fatalf("event %s, want %s", typ, want)
				}
				if ev.GetCreatedAt() < last {
					t.Errorf("event times go back: %d after %d", ev.GetCreatedAt(), last)
				}
				last = ev.GetCreatedAt()
				if ev.GetPodSandboxStatus().GetId() != p.id {
					t.Errorf("%s event: pod status %v", want, ev.GetPodSandboxStatus())
				}
				inPod := slices.ContainsFunc(ev.GetContainersStatuses(), func(s *runtimeapi.ContainerStatus) bool { return s.GetId() == cid })
				if inPod == (want == runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT) {
					t.Errorf("%s event: container statuses %v", want, ids(ev.GetContainersStatuses()))
				}
				return
			case <-timeout:
				t.Fatalf("no %s event", want)
			}
		}
	}
	cid := p.create(t, framework.ContainerConfig("ev", ref, "exec sleep 3600"))
	expect(cid, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	if err := rt.StartContainer(ctx(t), cid); err != nil {
		t.Fatal(err)
	}
	expect(cid, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	if err := rt.StopContainer(ctx(t), cid, 0); err != nil {
		t.Fatal(err)
	}
	expect(cid, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
	if err := rt.RemoveContainer(ctx(t), cid); err != nil {
		t.Fatal(err)
	}
	expect(cid, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
}

// watchEvents subscribes to d's GetContainerEvents with the kubelet's message limit,
// waits until the stream is subscribed (dockercri sends its header then) and passes on
// its events, closing the channel when the stream ends (at the test's end).
func watchEvents(t *testing.T, d *framework.Dockercri) <-chan *runtimeapi.ContainerEventResponse {
	t.Helper()
	raw, _ := d.Raw(t)
	sctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := raw.GetContainerEvents(sctx, &runtimeapi.GetEventsRequest{}, grpc.MaxCallRecvMsgSize(batch.MaxMessage))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("GetContainerEvents: %v", err)
	}
	got := make(chan *runtimeapi.ContainerEventResponse, 1000)
	go func() {
		defer close(got)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return // the receiver sees the channel closed
			}
			got <- ev
		}
	}()
	return got
}

func ids(sts []*runtimeapi.ContainerStatus) string {
	var out []string
	for _, s := range sts {
		out = append(out, s.GetId()[:12])
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
