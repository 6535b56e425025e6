package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/storage"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/engine/enginetest"
)

// busyRootfs is a Docker holding container abc, whose removals fail as Docker 20.10's
// do once it could not unmount a container's root filesystem, failFor times.
func busyRootfs(merged string, failFor int) (e *enginetest.Engine, removals *int) {
	e = enginetest.New()
	e.Put(container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: "abc", State: &container.State{Status: "exited"},
		GraphDriver: storage.DriverData{Data: map[string]string{"MergedDir": merged}}}})
	removals = new(int)
	e.Fail = func(method, _ string) error {
		if method != "ContainerRemove" {
			return nil
		}
		if *removals++; *removals <= failFor {
			return errors.New(`Error response from daemon: container abc: driver "overlay2" failed to remove root filesystem: unlinkat ` + merged + `: device or resource busy`)
		}
		return nil
	}
	return e, removals
}

func TestRemoveFromDocker(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("detaching a busy root filesystem takes an unmount: run as root")
	}
	// The busy mount (here a directory that is no mount point: detaching it is a no-op)
	// is detached and the removal asked once more.
	e, removals := busyRootfs(t.TempDir(), 1)
	s := &Service{cfg: config.Default(), docker: e}
	if err := s.removeFromDocker(context.Background(), "abc"); err != nil || *removals != 2 {
		t.Errorf("busy root filesystem once: err %v after %d removals; want success after 2", err, *removals)
	}
	// Still failing after that: the error is returned, not retried forever.
	e, removals = busyRootfs(t.TempDir(), 5)
	s.docker = e
	if err := s.removeFromDocker(context.Background(), "abc"); err == nil || *removals != 2 {
		t.Errorf("busy root filesystem for good: err %v after %d removals; want the error after 2", err, *removals)
	}
	// Already gone is removed.
	s.docker = enginetest.New()
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
