package core

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/crilog"
)

// startedLogs records the containers whose copying Start was asked for.
type startedLogs struct {
	logCopier
	mu      sync.Mutex
	started []string
}

func (l *startedLogs) Start(c crilog.Container) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = append(l.started, c.ID)
}

// At start-up, the copying resumes for containers running since before dockercri
// started, never for one StartContainer started since: its copying is under way, and
// it may be removed, with its log, before the view has loaded (a resumed copying would
// then make its log file again, for good); nor for another dockercri's container on the
// same Docker, whose log is that one's.
func TestResumeLogsOnlyOfContainersFromBefore(t *testing.T) {
	h := newHandlers(t, newFakeDocker(), t.TempDir())
	ctx := context.Background()
	beforeStart := time.Now().Add(-time.Second)
	c := h.startLogged(t, "web")
	afterStart := time.Now().Add(time.Second)
	root := h.cfg.RootDirectory
	for _, tt := range []struct {
		name  string
		since time.Time
		root  string
		want  bool
	}{
		{"dockercri started after the container", afterStart, root, true},
		{"the container started after dockercri", beforeStart, root, false},
		{"another dockercri's container", afterStart, root + "-other", false},
	} {
		logs := &startedLogs{logCopier: h.logs}
		h.logs, h.cfg.RootDirectory = logs, tt.root
		h.resumeLogs(ctx, tt.since)
		h.logs, h.cfg.RootDirectory = logs.logCopier, root
		if got := len(logs.started) == 1 && logs.started[0] == c; got != tt.want || len(logs.started) > 1 {
			t.Errorf("%s: resumed %v, want the container resumed: %t", tt.name, logs.started, tt.want)
		}
	}
}

// With Docker down when dockercri starts, the copying resumes once the view has listed
// Docker, woken by its epoch.
func TestResumeLogsWaitsForDocker(t *testing.T) {
	h := newHandlers(t, newFakeDocker(), t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := h.startLogged(t, "web")
	down := errors.New("docker down")
	h.docker.Mu.Lock()
	h.docker.Fail = func(method, _ string) error {
		if method == "ContainerList" {
			return down
		}
		return nil
	}
	h.docker.Mu.Unlock()
	h.docker.BreakEvents(down)
	waitFor(t, "the view to lose Docker", func() bool { return !h.view.Synced() })
	logs := &startedLogs{logCopier: h.logs}
	h.logs = logs
	done := make(chan struct{})
	go func() { h.resumeLogs(ctx, time.Now().Add(time.Second)); close(done) }()
	// Not before Docker answers: resumeLogs is still waiting after the view failed to
	// list it again (each failure a listing of its own).
	lists := func() int { h.docker.Mu.Lock(); defer h.docker.Mu.Unlock(); return h.docker.ContainerLists }
	for n := lists(); lists() < n+2; {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("resumeLogs returned with Docker down")
	default:
	}
	h.docker.Mu.Lock()
	h.docker.Fail = nil
	h.docker.Mu.Unlock()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("resumeLogs still waiting after the view listed Docker again")
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.started) != 1 || logs.started[0] != c {
		t.Errorf("resumed %v, want %s", logs.started, c)
	}
}

// startLogged runs a pod with a log directory and starts a container in it with a log
// path (what resumeLogs looks for), returning the container's ID.
func (h *handlers) startLogged(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	pod := hostPod(name)
	pod.LogDirectory = t.TempDir()
	run, err := h.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
	if err != nil {
		t.Fatal(err)
	}
	created, err := h.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: run.PodSandboxId, SandboxConfig: pod,
		Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Image: &runtimeapi.ImageSpec{Image: "busybox:latest"},
			Command: []string{"sleep", "3600"}, LogPath: "app/0.log"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		t.Fatal(err)
	}
	return created.ContainerId
}
