//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// counterScript prints "line N" for N = 0, 1, … every 20ms, forever.
const counterScript = `i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.02; done`

// checkCounterLog checks that the log's stdout lines are "line 0", "line 1", … with no
// gap and no repeat, and returns how many there are.
func checkCounterLog(t *testing.T, lines []string) int {
	t.Helper()
	for i, l := range lines {
		if l != "line "+strconv.Itoa(i) {
			t.Fatalf("log line %d is %q, want %q (lines around: %q)", i, l, "line "+strconv.Itoa(i), lines[max(0, i-2):min(len(lines), i+3)])
		}
	}
	return len(lines)
}

// After kill -9 and a restart, dockercri lists every sandbox and container with the same
// ids, states, metadata, log paths and port mappings, and the log of a container that
// kept printing meanwhile has every line exactly once.
func TestKill9RestartKeepsStateAndLogs(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))
	cfg := env.SandboxConfig(t, "survivor")
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 53, HostPort: 5353}}
	p := runPod(t, rt, cfg)
	counter := framework.ContainerConfig("counter", ref, counterScript)
	cid := p.start(t, counter)
	done := framework.ContainerConfig("done", ref, "echo finished")
	did := p.start(t, done)
	waitExited(t, rt, did)
	stopped := runPod(t, rt, env.SandboxConfig(t, "stopped"))
	if err := rt.StopPodSandbox(ctx(t), stopped.id); err != nil {
		t.Fatal(err)
	}

	before := snapshot(t, rt, p.id, stopped.id)
	time.Sleep(300 * time.Millisecond)
	d.Process().Kill()
	time.Sleep(time.Second) // the counter keeps printing while dockercri is down
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	rt = d.Runtime(t)
	waitViewLoaded(t, rt)
	after := snapshot(t, rt, p.id, stopped.id)
	for id, b := range before {
		if a, ok := after[id]; !ok || a != b {
			t.Errorf("after restart, %s = %q, before %q", id, after[id], b)
		}
	}
	if len(after) != len(before) {
		t.Errorf("after restart %d objects, before %d", len(after), len(before))
	}
	st, err := rt.PodSandboxStatus(ctx(t), p.id, true)
	if err != nil || !strings.Contains(st.GetInfo()["info"], `"host_port":5353`) {
		t.Errorf("port mappings after restart: %v, %v", st.GetInfo(), err)
	}

	// Let it print on, stop it, and read the whole log.
	time.Sleep(500 * time.Millisecond)
	if err := rt.StopContainer(ctx(t), cid, 0); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, cid)
	n := checkCounterLog(t, fullLines(readCRILog(t, p.logPath(counter)), "stdout"))
	if n < 50 {
		t.Errorf("only %d lines logged", n)
	}
	if got := fullLines(readCRILog(t, p.logPath(done)), "stdout"); len(got) != 1 || got[0] != "finished" {
		t.Errorf("exited container's log after restart = %q", got)
	}
}

// waitViewLoaded waits until a dockercri that just started serves lists: it answers
// Unavailable until its view of Docker is loaded, which on a busy machine comes after
// its socket answers.
func waitViewLoaded(t *testing.T, rt interface {
	ListPodSandbox(context.Context, *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
}) {
	t.Helper()
	if err := framework.WaitFor(time.Minute, func() error {
		_, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{Id: "none"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists the sandboxes ids and their containers as id → summary.
func snapshot(t *testing.T, rt interface {
	ListPodSandbox(context.Context, *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
	ListContainers(context.Context, *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	ContainerStatus(context.Context, string, bool) (*runtimeapi.ContainerStatusResponse, error)
}, ids ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var sbs []*runtimeapi.PodSandbox
	for _, id := range ids {
		l, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		sbs = append(sbs, l...)
	}
	for _, sb := range sbs {
		out[sb.Id] = fmt.Sprintf("%s %v %d", sb.GetState(), sb.GetMetadata(), sb.GetCreatedAt())
		cs, err := rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{PodSandboxId: sb.Id})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			st, err := rt.ContainerStatus(ctx(t), c.Id, false)
			if err != nil {
				t.Fatal(err)
			}
			out[c.Id] = fmt.Sprintf("%s %v %d %s %s", c.GetState(), c.GetMetadata(), c.GetCreatedAt(), st.GetStatus().GetLogPath(), c.GetImageRef())
		}
	}
	return out
}

// The kubelet's log rotation: rename the file, ReopenContainerLog, and the new file
// goes on where the old one stopped, nothing lost or repeated.
func TestReopenContainerLog(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "rotate"))
	c := framework.ContainerConfig("counter", pullBusybox(t, d.Images(t)), counterScript)
	cid := p.start(t, c)
	path := p.logPath(c)
	var rotated []string
	for i := 0; i < 3; i++ {
		time.Sleep(300 * time.Millisecond)
		old := fmt.Sprintf("%s.%d", path, i)
		if err := os.Rename(path, old); err != nil {
			t.Fatal(err)
		}
		if err := rt.ReopenContainerLog(ctx(t), cid); err != nil {
			t.Fatalf("ReopenContainerLog: %v", err)
		}
		rotated = append(rotated, old)
	}
	time.Sleep(300 * time.Millisecond)
	if err := rt.StopContainer(ctx(t), cid, 0); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, cid)
	var all []criLogLine
	for _, f := range append(rotated, path) {
		lines := readCRILog(t, f)
		if b, _ := os.ReadFile(f); os.Getenv("DEBUG_LOG") != "" {
			t.Logf("%s:\n%s", f, b)
		}
		if len(lines) == 0 {
			t.Errorf("rotated file %s is empty", filepath.Base(f))
		}
		all = append(all, lines...)
	}
	checkCounterLog(t, fullLines(all, "stdout"))
	if err := rt.ReopenContainerLog(ctx(t), cid); err == nil {
		t.Error("ReopenContainerLog of a stopped container succeeded")
	}
}

// Long lines are split into P records and joined back whole.
func TestLongLinesArePartialRecords(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "long"))
	c := framework.ContainerConfig("long", pullBusybox(t, d.Images(t)), `head -c 40000 /dev/zero | tr '\0' x; echo; echo short`)
	id := p.start(t, c)
	waitExited(t, rt, id)
	records := readCRILog(t, p.logPath(c))
	lines := fullLines(records, "stdout")
	if len(lines) != 2 || lines[0] != strings.Repeat("x", 40000) || lines[1] != "short" {
		t.Fatalf("lines = %d %v", len(lines), func() []int {
			var n []int
			for _, l := range lines {
				n = append(n, len(l))
			}
			return n
		}())
	}
	partial := 0
	for _, r := range records {
		if r.tag == "P" {
			partial++
		}
	}
	if partial == 0 {
		t.Error("a 40000-byte line was logged without partial records")
	}
}

// --container-log-format=docker-json keeps dockershim's way: the log path is a symlink
// to Docker's json-file log.
func TestDockerJSONLogFormat(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t, "--container-log-format=docker-json")
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "jsonlog"))
	c := framework.ContainerConfig("j", pullBusybox(t, d.Images(t)), "echo json-line")
	id := p.start(t, c)
	waitExited(t, rt, id)
	target, err := os.Readlink(p.logPath(c))
	if err != nil {
		t.Fatalf("log path is not a symlink: %v", err)
	}
	insp, err := env.Docker.Client.ContainerInspect(ctx(t), id)
	if err != nil || target != insp.LogPath {
		t.Fatalf("log path links to %s, docker's log is %s (%v)", target, insp.LogPath, err)
	}
	if err := framework.WaitFor(10*time.Second, func() error {
		b, err := os.ReadFile(p.logPath(c))
		if err != nil || !strings.Contains(string(b), `"log":"json-line\n"`) {
			return fmt.Errorf("docker log %q, %v", b, err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// Pods made by cri-dockerd on the same Docker (its names and labels, no dockercri
// checkpoint) are listed, stopped and removed like dockercri's own.
func TestCriDockerdPodsAreManaged(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))
	uid := "criduid-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ns := env.Namespace()
	sb, err := env.Docker.Client.ContainerCreate(ctx(t),
		&container.Config{Image: ref, Cmd: []string{"sleep", "3600"}, Labels: map[string]string{
			"io.kubernetes.docker.type": "podsandbox", "io.kubernetes.container.name": "POD",
			"io.kubernetes.pod.name": "legacy", "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.uid": uid, "annotation.kubernetes.io/config.seen": "x",
		}},
		&container.HostConfig{NetworkMode: "none", IpcMode: "shareable"}, nil, nil, fmt.Sprintf("k8s_POD_legacy_%s_%s_0", ns, uid))
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := env.Docker.Client.ContainerCreate(ctx(t),
		&container.Config{Image: ref, Cmd: []string{"sleep", "3600"}, Labels: map[string]string{
			"io.kubernetes.docker.type": "container", "io.kubernetes.sandbox.id": sb.ID, "io.kubernetes.container.name": "app",
		}},
		&container.HostConfig{NetworkMode: container.NetworkMode("container:" + sb.ID)}, nil, nil, fmt.Sprintf("k8s_app_legacy_%s_%s_0", ns, uid))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, id := range []string{ctr.ID, sb.ID} {
			_ = env.Docker.Client.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true})
		}
	})
	for _, id := range []string{sb.ID, ctr.ID} {
		if err := env.Docker.Client.ContainerStart(ctx(t), id, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": uid}})
	if err != nil || len(sbs) != 1 || sbs[0].GetId() != sb.ID || sbs[0].GetState() != runtimeapi.PodSandboxState_SANDBOX_READY ||
		sbs[0].GetMetadata().GetName() != "legacy" || sbs[0].GetAnnotations()["kubernetes.io/config.seen"] != "x" {
		t.Fatalf("cri-dockerd sandbox listed as %v, %v", sbs, err)
	}
	cs, err := rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{PodSandboxId: sb.ID})
	if err != nil || len(cs) != 1 || cs[0].GetId() != ctr.ID || cs[0].GetMetadata().GetName() != "app" {
		t.Fatalf("cri-dockerd container listed as %v, %v", cs, err)
	}
	if _, err := rt.PodSandboxStatus(ctx(t), sb.ID, false); err != nil {
		t.Errorf("status of a cri-dockerd sandbox: %v", err)
	}
	if err := rt.StopPodSandbox(ctx(t), sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemovePodSandbox(ctx(t), sb.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{sb.ID, ctr.ID} {
		if _, err := env.Docker.Client.ContainerInspect(ctx(t), id); err == nil {
			t.Errorf("%s survived RemovePodSandbox", id)
		}
	}
}

// On this host (no CAP_SYS_RESOURCE) a guaranteed pod's oom_score_adj of -997 would fail
// in runc: dockercri raises it to what the host allows and the container runs.
func TestOOMScoreAdjOnRestrictedHost(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "guaranteed"))
	c := framework.ContainerConfig("g", pullBusybox(t, d.Images(t)), "exec sleep 3600")
	c.Linux.Resources = &runtimeapi.LinuxContainerResources{OomScoreAdj: -997}
	cid := p.start(t, c)
	out, err := execSync(t, d, cid, []string{"cat", "/proc/1/oom_score_adj"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := strconv.Atoi(strings.TrimSpace(string(out.Stdout)))
	if restrictedHost(t) {
		if got < 0 {
			t.Errorf("oom_score_adj %d on a host that forbids lowering it", got)
		}
	} else if got != -997 {
		t.Errorf("oom_score_adj %d, want -997", got)
	}
}

// restrictedHost probes the capability bounding set for CAP_SYS_RESOURCE.
func restrictedHost(t *testing.T) bool { return hostCapBnd(t)&(1<<24) == 0 }
