package core

import (
	"context"
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
	pod := hostPod("web")
	pod.LogDirectory = t.TempDir()
	run, err := h.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
	if err != nil {
		t.Fatal(err)
	}
	beforeStart := time.Now().Add(-time.Second)
	created, err := h.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: run.PodSandboxId, SandboxConfig: pod,
		Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Image: &runtimeapi.ImageSpec{Image: "busybox:latest"},
			Command: []string{"sleep", "3600"}, LogPath: "app/0.log"}})
	if err != nil {
		t.Fatal(err)
	}
	c := created.ContainerId
	if _, err := h.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c}); err != nil {
		t.Fatal(err)
	}
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
