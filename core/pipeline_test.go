package core

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// pipelineIntact checks the rule of the list pipeline (doc.go): that nothing a list
// handed out was modified. Each memo item must still be the CRI form of its view
// object, each kept encoding must still decode to its item, and each view object
// must still be what Docker says of it.
func (h *handlers) pipelineIntact(ctx context.Context) error {
	if err := memoIntact(&h.sandboxItems, sandboxFromInspect); err != nil {
		return fmt.Errorf("sandboxes: %w", err)
	}
	if err := memoIntact(&h.containerItems, containerFromInspect); err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	if err := h.statusesIntact(); err != nil {
		return fmt.Errorf("statuses: %w", err)
	}
	objs, _, err := h.view.Snapshot(ctx)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		docker, ok := h.docker.Inspected(obj.ID)
		if ok && !reflect.DeepEqual(*obj, docker) {
			return fmt.Errorf("the view's object of %s is not what Docker says of it: it was modified", obj.ID)
		}
	}
	return nil
}

func memoIntact[T interface {
	comparable
	proto.Message
}](m *memo[T], conv func(*container.InspectResponse) (T, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for item, b := range m.wire {
		if b == nil {
			continue
		}
		kept := proto.Clone(item)
		proto.Reset(kept)
		if err := proto.Unmarshal(b, kept); err != nil {
			return err
		}
		if !proto.Equal(kept, item) {
			return fmt.Errorf("the kept encoding of %v decodes to %v: the item was modified after it was sent", item, kept)
		}
	}
	for obj, item := range m.items {
		want, err := conv(obj)
		if err != nil {
			return err
		}
		if !proto.Equal(item, want) {
			return fmt.Errorf("memo item %v is not the CRI form of its view object (%v): it, or the object, was modified", item, want)
		}
	}
	return nil
}

// statusesIntact: each kept ContainerStatus answer is still its view object's status,
// and its kept encoding still decodes to it.
func (h *handlers) statusesIntact() error {
	m := &h.statuses
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, k := range m.byID {
		want, err := containerStatus(*k.obj)
		if err != nil {
			return err
		}
		if !proto.Equal(k.resp.Status, want) {
			return fmt.Errorf("the kept status of %s is %v, not its view object's %v: it, or the object, was modified", id, k.resp.Status, want)
		}
		if k.wire == nil {
			continue
		}
		sent := &runtimeapi.ContainerStatusResponse{}
		if err := proto.Unmarshal(k.wire, sent); err != nil {
			return err
		}
		if !proto.Equal(sent, k.resp) {
			return fmt.Errorf("the kept encoding of %s's status decodes to %v: the answer was modified after it was sent", id, sent)
		}
	}
	return nil
}

// listAll asks every list RPC, and each listed container's status, and encodes each
// answer as the server does.
func (h *handlers) listAll(t *testing.T) (*runtimeapi.ListPodSandboxResponse, *runtimeapi.ListContainersResponse) {
	t.Helper()
	ctx := context.Background()
	codec := newAnswerCodec(h.Service)
	send := func(m any) error {
		_, err := codec.Marshal(m)
		return err
	}
	sandboxes, err := h.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	containers, err := h.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := send(sandboxes); err != nil {
		t.Fatal(err)
	}
	if err := send(containers); err != nil {
		t.Fatal(err)
	}
	for _, call := range []func() (any, error){
		func() (any, error) {
			return h.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"app": "web"}}})
		},
		func() (any, error) { return h.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{}) },
		func() (any, error) { return h.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{}) },
	} {
		resp, err := call()
		if err != nil {
			t.Fatal(err)
		}
		if err := send(resp); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.StreamPodSandboxes(&runtimeapi.StreamPodSandboxesRequest{}, sendStream[runtimeapi.StreamPodSandboxesResponse]{send}); err != nil {
		t.Fatal(err)
	}
	if err := h.StreamContainers(&runtimeapi.StreamContainersRequest{}, sendStream[runtimeapi.StreamContainersResponse]{send}); err != nil {
		t.Fatal(err)
	}
	for _, c := range containers.Containers {
		st, err := h.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil {
			t.Fatal(err)
		}
		if err := send(st); err != nil {
			t.Fatal(err)
		}
	}
	return sandboxes, containers
}

// sendStream is the server's side of a stream whose messages go to send.
type sendStream[R any] struct{ send func(any) error }

var _ grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse] = sendStream[runtimeapi.StreamContainersResponse]{}

func (s sendStream[R]) Send(m *R) error            { return s.send(m) }
func (sendStream[R]) Context() context.Context     { return context.Background() }
func (sendStream[R]) SetHeader(metadata.MD) error  { return nil }
func (sendStream[R]) SendHeader(metadata.MD) error { return nil }
func (sendStream[R]) SetTrailer(metadata.MD)       {}
func (sendStream[R]) SendMsg(any) error            { return nil }
func (sendStream[R]) RecvMsg(any) error            { return nil }

func (h *handlers) listedPods(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"web", "db"} {
		sb, pod := h.runPod(t, name)
		pod.Labels = map[string]string{"app": name}
		c := h.createContainer(t, sb, pod, "app")
		if _, err := h.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c}); err != nil {
			t.Fatal(err)
		}
		h.settle(c)
	}
}

// settle returns once the view has applied every event of Docker so far: it takes
// events one at a time, so once it has taken one more, which it ignores (an exec's),
// it is done with those before. A later change would give new items, and an edit of
// the old ones would no longer matter to any answer.
func (h *handlers) settle(id string) { h.docker.Emit(id, "exec_start: true") }

// The list RPCs modify nothing they share: after every one of them, twice (the second
// time from what was kept), the pipeline is as the view and Docker say.
func TestListPipelineIntact(t *testing.T) {
	h := newHandlers(t, newFakeDocker(), t.TempDir())
	h.listedPods(t)
	for range 2 {
		h.listAll(t)
		if err := h.pipelineIntact(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// The check catches what the rule forbids: an item of an answer edited in place, and
// an object of the view edited in place.
func TestListPipelineCheckCatchesEdits(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(h *handlers, sandboxes *runtimeapi.ListPodSandboxResponse, containers *runtimeapi.ListContainersResponse)
	}{
		{"a listed container's label", func(_ *handlers, _ *runtimeapi.ListPodSandboxResponse, c *runtimeapi.ListContainersResponse) {
			c.Containers[0].Labels["edited"] = "in place"
		}},
		{"a listed sandbox's state", func(_ *handlers, s *runtimeapi.ListPodSandboxResponse, _ *runtimeapi.ListContainersResponse) {
			s.Items[0].State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		}},
		{"a container's status", func(h *handlers, _ *runtimeapi.ListPodSandboxResponse, c *runtimeapi.ListContainersResponse) {
			st, _ := h.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: c.Containers[0].Id})
			st.Status.Labels["edited"] = "in place"
		}},
		{"an object of the view", func(h *handlers, _ *runtimeapi.ListPodSandboxResponse, _ *runtimeapi.ListContainersResponse) {
			objs, _, _ := h.view.Snapshot(context.Background())
			objs[0].Config.Labels["edited"] = "in place"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandlers(t, newFakeDocker(), t.TempDir())
			h.listedPods(t)
			sandboxes, containers := h.listAll(t)
			tt.edit(h, sandboxes, containers)
			if err := h.pipelineIntact(context.Background()); err == nil {
				t.Error("an edit in place went unnoticed")
			} else {
				t.Logf("caught: %v", err)
			}
		})
	}
}

// A container's kept status is its answer while its view object stays, and the new
// state's once the object changes: a stop by dockercri, an exit Docker reports.
func TestContainerStatusKeptUntilChange(t *testing.T) {
	h := newHandlers(t, newFakeDocker(), t.TempDir())
	ctx := context.Background()
	codec := newAnswerCodec(h.Service)
	h.listedPods(t)
	_, containers := h.listAll(t)
	status := func(id string) *runtimeapi.ContainerStatusResponse {
		t.Helper()
		st, err := h.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		sent, err := codec.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		want, err := proto.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sent.Materialize(), want) {
			t.Fatalf("the status of %s is sent as other bytes than its encoding", id)
		}
		return st
	}
	stopped, exits := containers.Containers[0].Id, containers.Containers[1].Id
	for _, id := range []string{stopped, exits} {
		if first, again := status(id), status(id); first != again || first.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("%s: a second status of a running container is not the kept one: %p %v, %p %v", id, first, first.Status.State, again, again.Status.State)
		}
	}
	if _, err := h.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: stopped}); err != nil {
		t.Fatal(err)
	}
	if st := status(stopped); st.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("status after StopContainer: %v", st.Status.State)
	}
	h.docker.Exit(exits, 3)
	waitFor(t, "the exit in the view", func() bool {
		return status(exits).Status.State == runtimeapi.ContainerState_CONTAINER_EXITED
	})
	if st := status(exits); st.Status.ExitCode != 3 {
		t.Errorf("exit code after Docker's die event: %d", st.Status.ExitCode)
	}
	if err := h.pipelineIntact(ctx); err != nil {
		t.Fatal(err)
	}
}
