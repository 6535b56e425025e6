//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Containers made by cri-dockerd (or dockershim), one running and one exited, have
// their log paths symlinks to Docker's json-files. Adopted by dockercri across a
// restart (so that it resumes the logs of running containers), asked their status,
// stopped, asked to reopen a log as the kubelet's rotation does: Docker's files hold
// only Docker's records, `docker logs` reads them, the links still point at them, and
// ReopenContainerLog refuses as dockershim did, leaving no file where the kubelet
// renamed the link away. A container dockercri starts beside them gets its CRI log.
func TestContainerLogAdoptedDockerLink(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))
	cfg := env.SandboxConfig(t, "adoptedlog")
	p := runPod(t, rt, cfg)
	docker := env.Docker.Client

	type adopted struct {
		name, id, logPath, dockerLog string
		stdout, stderr               string
	}
	// adopt makes a container as cri-dockerd does: created and started on Docker with
	// the labels, then its log path linked to Docker's json-file.
	adopt := func(name, stdout, stderr, then string) *adopted {
		a := &adopted{name: name, logPath: filepath.Join(cfg.LogDirectory, name, "0.log"), stdout: stdout, stderr: stderr}
		if err := os.MkdirAll(filepath.Dir(a.logPath), 0o755); err != nil {
			t.Fatal(err)
		}
		script := fmt.Sprintf("printf '%s'; printf '%s' >&2; %s", stdout, stderr, then)
		a.id = createOnDocker(t, p, name, ref, script, a.logPath, "json-file")
		t.Cleanup(func() { _ = docker.ContainerRemove(ctx(t), a.id, container.RemoveOptions{Force: true}) })
		if err := docker.ContainerStart(ctx(t), a.id, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		insp, err := docker.ContainerInspect(ctx(t), a.id)
		if err != nil {
			t.Fatal(err)
		}
		a.dockerLog = insp.LogPath
		if err := os.Symlink(a.dockerLog, a.logPath); err != nil {
			t.Fatal(err)
		}
		// Docker has taken the output.
		if err := framework.WaitFor(time.Minute, func() error {
			data, err := os.ReadFile(a.dockerLog)
			if n := bytes.Count(data, []byte("\n")); err != nil || n < strings.Count(stdout+stderr, "\n") {
				return fmt.Errorf("Docker's log of %s: %d lines, %v", name, n, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	running := adopt("running", "out 1\nout 2\n", "err 1\n", "exec sleep 3600")
	exited := adopt("exited", "done 1\ndone 2\n", "failed\n", "exit 3")
	waitC, errC := docker.ContainerWait(ctx(t), exited.id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatal(err)
	}

	if err := d.Process().Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	rt = d.Runtime(t)
	waitViewLoaded(t, rt)

	if st := waitExited(t, rt, exited.id); st.GetLogPath() != exited.logPath {
		t.Errorf("log path of the exited container: %q, want %q", st.GetLogPath(), exited.logPath)
	}
	// The kubelet's rotation of the running one: the link renamed, ReopenContainerLog,
	// and on its error the link renamed back.
	rotated := running.logPath + "." + time.Now().Format("20060102-150405")
	if err := os.Rename(running.logPath, rotated); err != nil {
		t.Fatal(err)
	}
	if err := rt.ReopenContainerLog(ctx(t), running.id); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("ReopenContainerLog of a log that is Docker's json-file: %v, want FailedPrecondition", err)
	}
	if _, err := os.Lstat(running.logPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file at the log path after ReopenContainerLog: %v", err)
	}
	if err := os.Rename(rotated, running.logPath); err != nil {
		t.Fatal(err)
	}

	// A new container beside them gets a CRI log.
	c := framework.ContainerConfig("new", ref, "echo new line")
	id := p.start(t, c)
	waitExited(t, rt, id)
	if st, err := os.Lstat(p.logPath(c)); err != nil || !st.Mode().IsRegular() {
		t.Errorf("the new container's log is not a file: %v", err)
	}
	if got := fullLines(readCRILog(t, p.logPath(c)), "stdout"); strings.Join(got, ",") != "new line" {
		t.Errorf("the new container's CRI log: %q", got)
	}

	if err := rt.StopContainer(ctx(t), running.id, 0); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, running.id)
	for _, a := range []*adopted{running, exited} {
		checkDockerLog(t, a.name, a.dockerLog, a.stdout, a.stderr)
		if to, err := os.Readlink(a.logPath); err != nil || to != a.dockerLog {
			t.Errorf("%s: the log path links to %q (%v), want %s", a.name, to, err, a.dockerLog)
		}
		if stdout, stderr, err := dockerLogs(t, env.Docker, a.id); err != nil || stdout != a.stdout || stderr != a.stderr {
			t.Errorf("%s: docker logs: %q, %q, %v", a.name, stdout, stderr, err)
		}
		// Removed as dockershim did: the link goes with the container.
		if err := rt.RemoveContainer(ctx(t), a.id); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(a.logPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the log path after RemoveContainer: %v", a.name, err)
		}
	}
}

// checkDockerLog checks that Docker's json-file at path holds Docker's records only, and
// that they are the output printed.
func checkDockerLog(t *testing.T, name, path, stdout, stderr string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var rec struct {
			Log    string    `json:"log"`
			Stream string    `json:"stream"`
			Time   time.Time `json:"time"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Stream != "stdout" && rec.Stream != "stderr" || rec.Time.IsZero() {
			t.Errorf("%s: a line of Docker's json-file is not Docker's record (%v): %q", name, err, sc.Text())
			continue
		}
		got[rec.Stream] += rec.Log
	}
	if got["stdout"] != stdout || got["stderr"] != stderr {
		t.Errorf("%s: Docker's json-file holds %q", name, got)
	}
}
