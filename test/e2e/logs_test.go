//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// The CRI log is copied from Docker's json-file on disk, whatever the daemon's default
// log driver (here "local"): dockercri gives its containers json-file with a rotation
// of its own, asks nothing of Docker's logs API, keeps Docker's files within that
// rotation, and `docker logs` still works.
func TestContainerLogFromDockerFile(t *testing.T) {
	t.Parallel()
	docker, err := framework.StartPrivateDockerd(env.TempDir(t, "dockerd"), "--log-driver", "local")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = docker.Stop() })
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	d := env.StartDockercri(t, "--docker-endpoint", docker.Endpoint, "--metrics-bind-addr", addr,
		"--docker-log-max-size", "20k", "--docker-log-max-file", "30")
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "fromfile"))
	const lines = 5000
	c := framework.ContainerConfig("seq", pullBusybox(t, d.Images(t)), fmt.Sprintf("seq 1 %d; echo oops >&2; exec sleep 3600", lines))
	id := p.start(t, c)
	var want []string
	for i := 1; i <= lines; i++ {
		want = append(want, strconv.Itoa(i))
	}
	// Docker copies stdout and stderr apart: "oops" may come before the last lines.
	if err := framework.WaitFor(30*time.Second, func() error {
		log := readCRILog(t, p.logPath(c))
		if got := fullLines(log, "stderr"); len(got) != 1 || got[0] != "oops" {
			return fmt.Errorf("stderr lines %q", got)
		}
		if got := fullLines(log, "stdout"); len(got) < lines {
			return fmt.Errorf("%d stdout lines", len(got))
		}
		return nil
	}); err != nil {
		calls := framework.ScrapeMetrics(t, addr).Value("dockercri_docker_request_duration_seconds", map[string]string{"operation": "GET /containers/{id}/logs"})
		t.Fatalf("%v; %v calls of Docker's logs API\n%s", err, calls, describeLogCopy(t, d, docker, id))
	}
	if got := fullLines(readCRILog(t, p.logPath(c)), "stdout"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("stdout: %d lines, want 1..%d", len(got), lines)
	}

	insp, err := docker.Client.ContainerInspect(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	lc := insp.HostConfig.LogConfig
	if lc.Type != "json-file" || lc.Config["max-size"] != "20k" || lc.Config["max-file"] != "30" || lc.Config["compress"] != "false" {
		t.Errorf("Docker log config %+v, want json-file with dockercri's rotation", lc)
	}
	// Docker's files: rotated, and within max-size × max-file (and a record).
	var total int64
	names, _ := filepath.Glob(insp.LogPath + "*")
	for _, name := range names {
		st, err := os.Stat(name)
		if err == nil {
			total += st.Size()
		}
	}
	if len(names) < 2 || total > 30*20000+200 {
		t.Errorf("Docker's log files %v hold %d bytes, want rotated within 30 × 20k", names, total)
	}

	// docker logs: all of it, from Docker's files.
	if stdout, stderr, err := dockerLogs(t, docker, id); err != nil || stdout != strings.Join(want, "\n")+"\n" || stderr != "oops\n" {
		t.Errorf("docker logs: %d bytes, %q, %v", len(stdout), stderr, err)
	}

	m := framework.ScrapeMetrics(t, addr)
	if n := m.Value("dockercri_docker_request_duration_seconds", map[string]string{"operation": "GET /containers/{id}/logs"}); n > 0 {
		t.Errorf("dockercri asked Docker's logs API %v times", n)
	}

	// Once the status says exited, all is copied and neither log is held open.
	if err := rt.StopContainer(ctx(t), id, 0); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, id)
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.Process().Pid()))
	for _, fd := range fds {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", d.Process().Pid(), fd.Name()))
		if strings.HasPrefix(target, filepath.Dir(insp.LogPath)) || target == p.logPath(c) {
			t.Errorf("dockercri holds %s open after the container exited", target)
		}
	}
}

// dockerLogs is what `docker logs` shows of container id: its stdout and its stderr.
func dockerLogs(t *testing.T, docker *framework.Dockerd, id string) (stdout, stderr string, err error) {
	t.Helper()
	rc, err := docker.Client.ContainerLogs(ctx(t), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out, errs strings.Builder
	_, err = stdcopy.StdCopy(&out, &errs, rc)
	return out.String(), errs.String(), err
}

// describeLogCopy tells where the copy of a container's json-file stands: Docker's
// files, dockercri's position file, and dockercri's inotify watches.
func describeLogCopy(t *testing.T, d *framework.Dockercri, docker *framework.Dockerd, id string) string {
	var b strings.Builder
	insp, err := docker.Client.ContainerInspect(ctx(t), id)
	if err != nil {
		return err.Error()
	}
	names, _ := filepath.Glob(insp.LogPath + "*")
	for _, name := range names {
		data, _ := os.ReadFile(name)
		var st syscall.Stat_t
		_ = syscall.Stat(name, &st)
		fmt.Fprintf(&b, "%s: inode %d, %d bytes, %d lines\n", filepath.Base(name), st.Ino, len(data), bytes.Count(data, []byte("\n")))
	}
	pos, _ := filepath.Glob(filepath.Join(d.Dir, "state", "logs", "*.tail"))
	for _, name := range pos {
		data, _ := os.ReadFile(name)
		fmt.Fprintf(&b, "%s: %s\n", filepath.Base(name), data)
	}
	pid := d.Process().Pid()
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); strings.Contains(target, "inotify") {
			info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
			fmt.Fprintf(&b, "inotify fd %s:\n%s", fd.Name(), info)
		}
	}
	return b.String()
}

// dockercri is killed -9 while a container prints and Docker rotates its json-file
// several times before dockercri is back: the CRI log holds every line exactly once.
func TestLogFollowsDockerRotationAcrossKill9(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t, "--docker-log-max-size", "10k", "--docker-log-max-file", "50")
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "rotating"))
	c := framework.ContainerConfig("counter", pullBusybox(t, d.Images(t)),
		`i=0; while true; do echo "line $i"; i=$((i+1)); if [ $((i % 10)) -eq 0 ]; then sleep 0.01; fi; done`)
	cid := p.start(t, c)
	insp, err := env.Docker.Client.ContainerInspect(ctx(t), cid)
	if err != nil {
		t.Fatal(err)
	}
	waitLogLines(t, p.logPath(c), 200)
	d.Process().Kill()
	// Docker's file at the kill must have moved on by two rotations before the restart.
	st, err := os.Stat(insp.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := framework.WaitFor(time.Minute, func() error {
		for i := 2; i < 50; i++ {
			if rot, err := os.Stat(fmt.Sprintf("%s.%d", insp.LogPath, i)); err == nil && os.SameFile(rot, st) {
				return nil
			}
		}
		return fmt.Errorf("not rotated twice yet")
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	rt = d.Runtime(t)
	waitViewLoaded(t, rt)
	n := waitLogLines(t, p.logPath(c), 0)
	waitLogLines(t, p.logPath(c), n+200)
	if err := rt.StopContainer(ctx(t), cid, 0); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, cid)
	if got := checkCounterLog(t, fullLines(readCRILog(t, p.logPath(c)), "stdout")); got < 300 {
		t.Errorf("only %d lines logged", got)
	}
}

// A stopped dockercri (SIGSTOP) does not hold up a container that prints: Docker's
// file grows meanwhile, and once dockercri runs again its CRI log catches up, every
// line once.
func TestStoppedDockercriDoesNotBlockContainer(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "paused"))
	c := framework.ContainerConfig("counter", pullBusybox(t, d.Images(t)), counterScript)
	cid := p.start(t, c)
	insp, err := env.Docker.Client.ContainerInspect(ctx(t), cid)
	if err != nil {
		t.Fatal(err)
	}
	waitLogLines(t, p.logPath(c), 10)
	if err := d.Process().Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(insp.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := framework.WaitFor(30*time.Second, func() error {
		now, err := os.Stat(insp.LogPath)
		if err != nil || now.Size() < st.Size()+2000 {
			return fmt.Errorf("Docker's log file does not grow while dockercri is stopped: %v", err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if err := d.Process().Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := rt.StopContainer(ctx(t), cid, 0); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, cid)
	// Every line Docker took, those written while dockercri was stopped too, is in the
	// CRI log once the container exited (Docker's file holds one record per line).
	docker, err := os.ReadFile(insp.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Count(docker, []byte("\n"))
	if n := checkCounterLog(t, fullLines(readCRILog(t, p.logPath(c)), "stdout")); n != want {
		t.Errorf("%d lines in the CRI log, %d in Docker's", n, want)
	}
}

// waitLogLines waits until the CRI log at path holds at least n lines, and returns how
// many it holds.
func waitLogLines(t *testing.T, path string, n int) int {
	t.Helper()
	var got int
	if err := framework.WaitFor(time.Minute, func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		got = 0
		for sc := bufio.NewScanner(f); sc.Scan(); {
			got++
		}
		if got < n {
			return fmt.Errorf("%d lines, want %d", got, n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// A container whose log driver is not json-file (made before dockercri chose its
// containers' log driver, or by another tool, with dockercri's labels) still gets its
// CRI log, through Docker's logs API.
func TestContainerLogThroughLogsAPI(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))
	cfg := env.SandboxConfig(t, "legacylog")
	p := runPod(t, rt, cfg)
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(cfg.LogDirectory, "old.log")
	id := createOnDocker(t, p, "old", ref, "echo from-local-driver; seq 1 3", logPath, "local")
	t.Cleanup(func() { _ = rt.RemoveContainer(ctx(t), id) })
	if err := rt.StartContainer(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, id)
	if got := fullLines(readCRILog(t, logPath), "stdout"); strings.Join(got, ",") != "from-local-driver,1,2,3" {
		t.Errorf("log of a container with the local driver: %q", got)
	}
}

// createOnDocker creates a container in pod p straight on Docker, as another tool
// (cri-dockerd, an older dockercri) would: with the labels and name dockercri reads,
// its script run by sh, logging to logPath through Docker's log driver.
func createOnDocker(t *testing.T, p *pod, name, image, script, logPath, driver string) string {
	t.Helper()
	m := p.cfg.Metadata
	created, err := env.Docker.Client.ContainerCreate(ctx(t),
		&container.Config{Image: image, Cmd: []string{"sh", "-c", script}, Labels: map[string]string{
			"io.kubernetes.docker.type": "container", "io.kubernetes.sandbox.id": p.id, "io.kubernetes.container.name": name,
			"io.kubernetes.container.logpath": logPath,
		}},
		&container.HostConfig{NetworkMode: container.NetworkMode("container:" + p.id), LogConfig: container.LogConfig{Type: driver}},
		nil, nil, fmt.Sprintf("k8s_%s_%s_%s_%s_0", name, m.Name, m.Namespace, m.Uid))
	if err != nil {
		t.Fatal(err)
	}
	return created.ID
}
