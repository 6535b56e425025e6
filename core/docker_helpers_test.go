package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/storage"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/engine"
)

// busyRootfsEngine fails removals as Docker 20.10 does once it could not unmount a
// container's root filesystem, until that mount is gone.
type busyRootfsEngine struct {
	engine.Engine
	merged   string
	removals int
	failFor  int
}

func (e *busyRootfsEngine) ContainerRemove(context.Context, string, container.RemoveOptions) error {
	e.removals++
	if e.removals <= e.failFor {
		return errors.New(`Error response from daemon: container abc: driver "overlay2" failed to remove root filesystem: unlinkat ` + e.merged + `: device or resource busy`)
	}
	return nil
}

func (e *busyRootfsEngine) ContainerInspect(context.Context, string) (container.InspectResponse, error) {
	return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{GraphDriver: storage.DriverData{Data: map[string]string{"MergedDir": e.merged}}}}, nil
}

type goneEngine struct{ engine.Engine }

func (goneEngine) ContainerRemove(context.Context, string, container.RemoveOptions) error {
	return cerrdefs.ErrNotFound
}

func TestRemoveFromDocker(t *testing.T) {
	// The busy mount (here a directory that is no mount point: detaching it is a no-op)
	// is detached and the removal asked once more.
	e := &busyRootfsEngine{merged: t.TempDir(), failFor: 1}
	s := &Service{cfg: config.Default(), docker: e}
	if err := s.removeFromDocker(context.Background(), "abc"); err != nil || e.removals != 2 {
		t.Errorf("busy root filesystem once: err %v after %d removals; want success after 2", err, e.removals)
	}
	// Still failing after that: the error is returned, not retried forever.
	e = &busyRootfsEngine{merged: t.TempDir(), failFor: 5}
	s.docker = e
	if err := s.removeFromDocker(context.Background(), "abc"); err == nil || e.removals != 2 {
		t.Errorf("busy root filesystem for good: err %v after %d removals; want the error after 2", err, e.removals)
	}
	// Already gone is removed.
	s.docker = goneEngine{}
	if err := s.removeFromDocker(context.Background(), "abc"); err != nil {
		t.Errorf("gone container: %v", err)
	}
}

// ExecSync keeps at most maxExecSyncOutput of stdout and stderr together, whatever the
// command writes to each, and says when it cut.
func TestExecOutputBudget(t *testing.T) {
	var out, errb bytes.Buffer
	b := &outputBudget{left: 10}
	o, e := b.writer(&out), b.writer(&errb)
	for _, w := range []io.Writer{o, e, o} {
		if n, err := w.Write([]byte("123456")); n != 6 || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	if out.String() != "123456" || errb.String() != "1234" || !b.cut {
		t.Errorf("kept %q and %q, cut %v", out.String(), errb.String(), b.cut)
	}
	// The budget holds the truncation note too: the output never exceeds it.
	if maxExecSyncOutput > 16<<20-32<<10 {
		t.Errorf("the answer's output may reach %d bytes: too close to the kubelet's 16 MiB", maxExecSyncOutput)
	}
}
