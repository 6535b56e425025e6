package core

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/engine/enginetest"
)

// The handler tests run the RPCs on enginetest's Docker: no root, no Docker, no CNI
// (their pods are on the host's network, which needs no plugin).

// handlers is a Service on a fake Docker, its view following the fake's events.
type handlers struct {
	*Service
	docker *enginetest.Engine
	root   string
	stop   func()
}

// newHandlers starts a Service on docker with its state under root (a restart: the
// same root and docker again).
func newHandlers(t *testing.T, docker *enginetest.Engine, root string) *handlers {
	t.Helper()
	cfg := config.Default()
	cfg.RootDirectory = root
	cfg.OldRootDirectories = []string{filepath.Join(root, "old-server")}
	cfg.NetworkPlugin = ""
	cfg.CNIConfDir, cfg.CNICacheDir = filepath.Join(root, "cni-conf"), filepath.Join(root, "cni-cache")
	cfg.RuntimeRequestTimeout = 10 * time.Second
	s := NewService(cfg, docker)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.view.Run(ctx); close(done) }()
	h := &handlers{Service: s, docker: docker, root: root}
	h.stop = func() { cancel(); <-done; s.Close() }
	t.Cleanup(func() { h.stop() })
	waitFor(t, "the view to list Docker", s.view.Synced)
	return h
}

// newFakeDocker is a Docker holding the pod infra image.
func newFakeDocker() *enginetest.Engine {
	return enginetest.New(enginetest.Image(enginetest.HexID('a'), "65535", 700_000, []string{config.DefaultPodInfraImage}, nil),
		enginetest.Image(enginetest.HexID('b'), "", 4_000_000, []string{"busybox:latest"}, nil))
}

// waitFor waits until cond holds: readiness, not a time (the deadline only ends a
// hung test).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func hostPod(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: name + "-uid"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}}},
		PortMappings: []*runtimeapi.PortMapping{{ContainerPort: 80, HostPort: 8080}},
	}
}

func (h *handlers) runPod(t *testing.T, name string) (string, *runtimeapi.PodSandboxConfig) {
	t.Helper()
	cfg := hostPod(name)
	resp, err := h.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox %s: %v", name, err)
	}
	return resp.PodSandboxId, cfg
}

func (h *handlers) createContainer(t *testing.T, sandboxID string, pod *runtimeapi.PodSandboxConfig, name string) string {
	t.Helper()
	resp, err := h.CreateContainer(context.Background(), &runtimeapi.CreateContainerRequest{
		PodSandboxId:  sandboxID,
		SandboxConfig: pod,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: "busybox:latest"},
			Command:  []string{"sleep", "3600"},
			Labels:   pod.GetLabels(),
		},
	})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", name, err)
	}
	return resp.ContainerId
}

func (h *handlers) containerState(t *testing.T, id string) runtimeapi.ContainerState {
	t.Helper()
	resp, err := h.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{Id: id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Containers) != 1 {
		return -1
	}
	return resp.Containers[0].State
}

// Stop and Remove succeed on what is gone, and twice: the kubelet retries them.
func TestStopRemoveIdempotent(t *testing.T) {
	h := newHandlers(t, newFakeDocker(), t.TempDir())
	ctx := context.Background()
	sb, pod := h.runPod(t, "web")
	c := h.createContainer(t, sb, pod, "app")
	if _, err := h.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"StopContainer", func() error {
			_, err := h.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c})
			return err
		}},
		{"RemoveContainer", func() error {
			_, err := h.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c})
			return err
		}},
		{"StopPodSandbox", func() error {
			_, err := h.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb})
			return err
		}},
		{"RemovePodSandbox", func() error {
			_, err := h.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb})
			return err
		}},
	} {
		for i := range 2 {
			if err := tt.call(); err != nil {
				t.Errorf("%s, time %d: %v", tt.name, i+1, err)
			}
		}
	}
	if _, ok := h.docker.Inspected(sb); ok {
		t.Error("the pause container is still in Docker after RemovePodSandbox")
	}
	if cp, err := h.checkpoints.Load(sb); cp != nil || err != nil {
		t.Errorf("the sandbox's checkpoint is left: %+v, %v", cp, err)
	}
	// Never made: the same.
	for _, id := range []string{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "nosuch"} {
		if _, err := h.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
			t.Errorf("StopContainer of %s: %v", id, err)
		}
		if _, err := h.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("RemovePodSandbox of %s: %v", id, err)
		}
	}
}

// Each RPC answers a bad request, or one Docker cannot serve, with the code the kubelet
// acts on.
func TestHandlerCodes(t *testing.T) {
	h := newHandlers(t, newFakeDocker(), t.TempDir())
	ctx := context.Background()
	sb, pod := h.runPod(t, "web")
	created := h.createContainer(t, sb, pod, "created")
	h.SetStreamServer(nil)
	for _, tt := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"ContainerStatus of nothing", func() error {
			_, err := h.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "nosuch"})
			return err
		}, codes.NotFound},
		{"PodSandboxStatus of nothing", func() error {
			_, err := h.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: "nosuch"})
			return err
		}, codes.NotFound},
		{"ContainerStatus of a sandbox", func() error {
			_, err := h.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: sb})
			return err
		}, codes.NotFound},
		{"StartContainer of nothing", func() error {
			_, err := h.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: "nosuch"})
			return err
		}, codes.NotFound},
		{"CreateContainer in no sandbox", func() error {
			_, err := h.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "nosuch", SandboxConfig: pod,
				Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "x"}, Image: &runtimeapi.ImageSpec{Image: "busybox"}}})
			return err
		}, codes.NotFound},
		{"ContainerStatus with an empty id", func() error {
			_, err := h.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{})
			return err
		}, codes.InvalidArgument},
		{"RunPodSandbox without metadata", func() error {
			_, err := h.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{}})
			return err
		}, codes.InvalidArgument},
		{"Exec without a command", func() error {
			_, err := h.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: created})
			return err
		}, codes.InvalidArgument},
		{"PortForward to port 0", func() error {
			_, err := h.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: sb, Port: []int32{0}})
			return err
		}, codes.InvalidArgument},
		{"UpdateRuntimeConfig with a bad CIDR", func() error {
			_, err := h.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{
				NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.0.0.0/33"}}})
			return err
		}, codes.InvalidArgument},
		{"Exec in a container that is not running", func() error {
			_, err := h.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: created, Cmd: []string{"sh"}})
			return err
		}, codes.FailedPrecondition},
		{"ExecSync in a container that is not running", func() error {
			_, err := h.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: created, Cmd: []string{"true"}})
			return err
		}, codes.FailedPrecondition},
		{"Attach with no streaming server", func() error {
			if _, err := h.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created}); err != nil {
				return err
			}
			_, err := h.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: created})
			return err
		}, codes.Unavailable},
	} {
		if got := status.Code(tt.call()); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}

	// Docker's answers: an unknown cgroup driver, and Docker unreachable.
	odd := newFakeDocker()
	odd.SystemInfo.CgroupDriver = "none"
	if _, err := newHandlers(t, odd, t.TempDir()).RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("RuntimeConfig with cgroup driver none: %v, want FailedPrecondition", err)
	}
	h.docker.Mu.Lock()
	h.docker.Fail = func(method, _ string) error {
		if method == "ContainerStop" || method == "ContainerInspect" {
			return client.ErrorConnectionFailed("unix:///var/run/docker.sock")
		}
		return nil
	}
	h.docker.Mu.Unlock()
	if _, err := h.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: created}); status.Code(err) != codes.Unavailable {
		t.Errorf("StopContainer with Docker unreachable: %v, want Unavailable", err)
	}
}

// A container that exits, or goes, behind dockercri's back is shown so by the next list
// once Docker's event has come.
func TestViewAfterEvents(t *testing.T) {
	h := newHandlers(t, newFakeDocker(), t.TempDir())
	ctx := context.Background()
	sb, pod := h.runPod(t, "web")
	c := h.createContainer(t, sb, pod, "app")
	if got := h.containerState(t, c); got != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Fatalf("after create: %v", got)
	}
	if _, err := h.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c}); err != nil {
		t.Fatal(err)
	}
	if got := h.containerState(t, c); got != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("after start: %v", got)
	}
	h.docker.Exit(c, 3) // returns once the view has the event
	waitFor(t, "the exit in the list", func() bool { return h.containerState(t, c) == runtimeapi.ContainerState_CONTAINER_EXITED })
	st, err := h.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c})
	if err != nil || st.Status.ExitCode != 3 {
		t.Errorf("status after the exit: %v, %v", st, err)
	}
	// Removed by someone else: gone from the list, and Stop and Remove still succeed.
	h.docker.Delete(c)
	h.docker.Emit(c, events.ActionDestroy)
	waitFor(t, "the removal in the list", func() bool { return h.containerState(t, c) == -1 })
	if _, err := h.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c}); err != nil {
		t.Errorf("RemoveContainer of a container removed behind dockercri's back: %v", err)
	}
	// The sandbox, listed by state.
	resp, err := h.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}})
	if err != nil || len(resp.Items) != 1 || resp.Items[0].Id != sb {
		t.Errorf("ready sandboxes: %v, %v", resp, err)
	}
}

// A restarted dockercri finds its pods again from Docker's labels and its checkpoints:
// their status, and their stop and removal, which clear the checkpoint.
func TestRestartRecoversFromCheckpoints(t *testing.T) {
	docker, root := newFakeDocker(), t.TempDir()
	first := newHandlers(t, docker, root)
	ctx := context.Background()
	sb, pod := first.runPod(t, "web")
	c := first.createContainer(t, sb, pod, "app")
	if _, err := first.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c}); err != nil {
		t.Fatal(err)
	}
	first.stop()

	h := newHandlers(t, docker, root)
	st, err := h.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || st.Status.Metadata.GetName() != "web" ||
		st.Status.GetLinux().GetNamespaces().GetOptions().GetNetwork() != runtimeapi.NamespaceMode_NODE {
		t.Errorf("status after a restart: %v", st.Status)
	}
	cp, err := h.checkpoints.Load(sb)
	if err != nil || cp == nil || len(cp.Data.PortMappings) != 1 || cp.Data.PortMappings[0].HostPort != 8080 {
		t.Fatalf("checkpoint after a restart: %+v, %v", cp, err)
	}
	if got := h.containerState(t, c); got != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("the pod's container after a restart: %v", got)
	}
	if _, err := h.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb}); err != nil {
		t.Fatal(err)
	}
	if got := h.containerState(t, c); got != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("the pod's container after StopPodSandbox: %v", got)
	}
	if _, err := h.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb}); err != nil {
		t.Fatal(err)
	}
	if cp, err := h.checkpoints.Load(sb); cp != nil || err != nil {
		t.Errorf("checkpoint after RemovePodSandbox: %+v, %v", cp, err)
	}
	if _, ok := docker.Inspected(c); ok {
		t.Error("the pod's container is left in Docker")
	}
}
