//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/pause"
	"github.com/dockercri/dockercri/test/e2e/framework"
)

// A pod's whole life through the kubelet's client: sandbox and container under
// dockershim's names and labels, the config applied, status, lists and their filters,
// ExecSync, CRI logs, stop and remove, each idempotent.
func TestPodLifecycle(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))

	cfg := env.SandboxConfig(t, "web")
	cfg.Hostname = "web-host"
	cfg.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"svc.cluster.local"}, Options: []string{"ndots:5"}}
	cfg.Labels["app"] = "web"
	cfg.Annotations = map[string]string{"note": "kept"}
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: 8080}}
	p := runPod(t, rt, cfg)
	m := cfg.GetMetadata()

	sb, err := env.Docker.Client.ContainerInspect(ctx(t), p.id)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("/k8s_POD_web_%s_%s_0", m.Namespace, m.Uid); sb.Name != want {
		t.Errorf("sandbox docker name %s, want %s", sb.Name, want)
	}
	for k, v := range map[string]string{"io.kubernetes.docker.type": "podsandbox", "io.kubernetes.container.name": "POD", "annotation.note": "kept", "app": "web"} {
		if sb.Config.Labels[k] != v {
			t.Errorf("sandbox label %s = %q, want %q", k, sb.Config.Labels[k], v)
		}
	}
	if _, err := os.Stat(cfg.LogDirectory); err != nil {
		t.Errorf("log directory not created: %v", err)
	}

	st, err := rt.PodSandboxStatus(ctx(t), p.id, true)
	if err != nil {
		t.Fatal(err)
	}
	s := st.GetStatus()
	if s.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY || s.GetMetadata().GetUid() != m.Uid || s.GetMetadata().GetName() != "web" ||
		s.GetLabels()["app"] != "web" || s.GetAnnotations()["note"] != "kept" || s.GetCreatedAt() == 0 {
		t.Errorf("PodSandboxStatus = %v", s)
	}
	for k := range s.GetLabels() {
		if strings.HasPrefix(k, "annotation.") || k == "io.kubernetes.docker.type" || strings.HasPrefix(k, "io.dockercri.") {
			t.Errorf("internal label %s leaks into the sandbox's labels", k)
		}
	}
	if s.GetLinux().GetNamespaces().GetOptions().GetNetwork() != runtimeapi.NamespaceMode_POD {
		t.Errorf("sandbox network namespace mode %v, want POD", s.GetLinux().GetNamespaces().GetOptions())
	}
	if !strings.Contains(st.GetInfo()["info"], `"PortMappings"`) && !strings.Contains(st.GetInfo()["info"], `"port_mappings"`) {
		t.Errorf("verbose sandbox info lacks the port mappings: %s", st.GetInfo()["info"])
	}

	c := framework.ContainerConfig("app", ref, "echo hello-out; echo hello-err >&2; exec sleep 3600")
	c.Envs = []*runtimeapi.KeyValue{{Key: "FOO", Value: []byte("bar")}}
	c.WorkingDir = "/tmp"
	c.Annotations = map[string]string{"c-note": "x"}
	cid := p.start(t, c)
	ci, err := env.Docker.Client.ContainerInspect(ctx(t), cid)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("/k8s_app_web_%s_%s_0", m.Namespace, m.Uid); ci.Name != want {
		t.Errorf("container docker name %s, want %s", ci.Name, want)
	}
	for k, v := range map[string]string{"io.kubernetes.docker.type": "container", "io.kubernetes.sandbox.id": p.id, "io.kubernetes.container.logpath": p.logPath(c), "annotation.c-note": "x"} {
		if ci.Config.Labels[k] != v {
			t.Errorf("container label %s = %q, want %q", k, ci.Config.Labels[k], v)
		}
	}

	cs, err := rt.ContainerStatus(ctx(t), cid, false)
	if err != nil {
		t.Fatal(err)
	}
	if st := cs.GetStatus(); st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING || st.GetStartedAt() == 0 || st.GetImageId() != ref ||
		st.GetLogPath() != p.logPath(c) || st.GetMetadata().GetName() != "app" || st.GetAnnotations()["c-note"] != "x" || st.GetUser().GetLinux() == nil {
		t.Errorf("ContainerStatus = %v", st)
	}

	out, err := execSync(t, d, cid, []string{"sh", "-c", "echo $FOO; pwd; hostname; cat /etc/resolv.conf; echo e >&2; exit 3"}, 30*time.Second)
	if err != nil {
		t.Fatalf("ExecSync: %v", err)
	}
	for _, want := range []string{"bar\n", "/tmp\n", "web-host\n", "nameserver 10.96.0.10", "search svc.cluster.local", "options ndots:5"} {
		if !strings.Contains(string(out.Stdout), want) {
			t.Errorf("exec stdout %q lacks %q", out.Stdout, want)
		}
	}
	if string(out.Stderr) != "e\n" || out.ExitCode != 3 {
		t.Errorf("exec stderr %q exit %d, want \"e\\n\" and 3", out.Stderr, out.ExitCode)
	}

	if err := framework.WaitFor(30*time.Second, func() error {
		b, _ := os.ReadFile(p.logPath(c))
		if !strings.Contains(string(b), " stdout F hello-out\n") || !strings.Contains(string(b), " stderr F hello-err\n") {
			return fmt.Errorf("log so far: %q", b)
		}
		return nil
	}); err != nil {
		t.Errorf("CRI log: %v", err)
	}

	// Lists and their filters.
	byPod, err := rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{PodSandboxId: p.id})
	if err != nil || len(byPod) != 1 || byPod[0].GetId() != cid || byPod[0].GetPodSandboxId() != p.id || byPod[0].GetImageId() != ref {
		t.Errorf("ListContainers by sandbox = %v, %v", byPod, err)
	}
	byPrefix, err := rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{Id: cid[:12]})
	if err != nil || len(byPrefix) != 1 || byPrefix[0].GetId() != cid {
		t.Errorf("ListContainers by id prefix = %v, %v", byPrefix, err)
	}
	running, err := rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{PodSandboxId: p.id, State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}})
	if err != nil || len(running) != 1 {
		t.Errorf("ListContainers running = %v, %v", running, err)
	}
	bySelector, err := rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"io.kubernetes.container.name": "app"}, PodSandboxId: p.id})
	if err != nil || len(bySelector) != 1 {
		t.Errorf("ListContainers by label = %v, %v", bySelector, err)
	}
	sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{Id: p.id[:12], State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}, LabelSelector: map[string]string{"app": "web"}})
	if err != nil || len(sbs) != 1 || sbs[0].GetId() != p.id || sbs[0].GetCreatedAt() != s.GetCreatedAt() || sbs[0].GetMetadata().GetUid() != m.Uid {
		t.Errorf("ListPodSandbox by prefix, state and label = %v, %v", sbs, err)
	}
	none, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{Id: p.id, LabelSelector: map[string]string{"app": "other"}})
	if err != nil || len(none) != 0 {
		t.Errorf("ListPodSandbox with a selector that does not match = %v, %v", none, err)
	}

	// `exec sleep` is PID 1 of its container and ignores SIGTERM: killed after 1s.
	if err := rt.StopContainer(ctx(t), cid, 1); err != nil {
		t.Fatal(err)
	}
	cs, err = rt.ContainerStatus(ctx(t), cid, false)
	if err != nil {
		t.Fatal(err)
	}
	if st := cs.GetStatus(); st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetExitCode() != 137 || st.GetReason() != "Error" || st.GetFinishedAt() == 0 {
		t.Errorf("after stop: %v", st)
	}
	if err := rt.StopContainer(ctx(t), cid, 1); err != nil {
		t.Errorf("second StopContainer: %v", err)
	}

	if err := rt.StopPodSandbox(ctx(t), p.id); err != nil {
		t.Fatal(err)
	}
	st, err = rt.PodSandboxStatus(ctx(t), p.id, false)
	if err != nil || st.GetStatus().GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("after StopPodSandbox: %v, %v", st, err)
	}
	if err := rt.RemovePodSandbox(ctx(t), p.id); err != nil {
		t.Fatal(err)
	}
	left, err := env.Docker.Client.ContainerList(ctx(t), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.kubernetes.sandbox.id="+p.id))})
	if err != nil || len(left) != 0 {
		t.Errorf("containers left after RemovePodSandbox: %v, %v", left, err)
	}
	if _, err := os.Stat(p.logPath(c)); !os.IsNotExist(err) {
		t.Errorf("container log left after removal: %v", err)
	}
	_, err = rt.PodSandboxStatus(ctx(t), p.id, false)
	wantCode(t, err, codes.NotFound, "status of a removed sandbox")
	_, err = rt.ContainerStatus(ctx(t), cid, false)
	wantCode(t, err, codes.NotFound, "status of a removed container")
	for what, err := range map[string]error{
		"StopPodSandbox":   rt.StopPodSandbox(ctx(t), p.id),
		"RemovePodSandbox": rt.RemovePodSandbox(ctx(t), p.id),
		"StopContainer":    rt.StopContainer(ctx(t), cid, 0),
		"RemoveContainer":  rt.RemoveContainer(ctx(t), cid),
	} {
		if err != nil {
			t.Errorf("%s of a removed object: %v, want success", what, err)
		}
	}
}

// The kubelet's command replaces the image's ENTRYPOINT, its args the image's CMD; a
// container that prints and exits at once has all its output in its log by the time
// its status says it exited.
func TestCommandArgsAndExitedOutput(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("entry"), "v1", false, `ENTRYPOINT ["echo","entry"]`, `CMD ["cmd"]`)
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref, err := d.Images(t).PullImage(ctx(t), spec(img.Ref), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := runPod(t, rt, env.SandboxConfig(t, "cmds"))
	cases := []struct {
		name          string
		command, args []string
		want          string
	}{
		{"image", nil, nil, "entry cmd"},
		{"args", nil, []string{"a"}, "entry a"},
		{"command", []string{"echo", "c"}, nil, "c"},
		{"both", []string{"echo", "c"}, []string{"a"}, "c a"},
	}
	for _, tc := range cases {
		c := framework.ContainerConfig(tc.name, ref, "")
		c.Command, c.Args = tc.command, tc.args
		id := p.start(t, c)
		st := waitExited(t, rt, id)
		if st.GetExitCode() != 0 || st.GetReason() != "Completed" {
			t.Errorf("%s: exit %d reason %q, want 0 Completed", tc.name, st.GetExitCode(), st.GetReason())
		}
		// Read at once: no waiting for the log after the status said "exited".
		if got := fullLines(readCRILog(t, p.logPath(c)), "stdout"); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: output %q, want %q", tc.name, got, tc.want)
		}
	}
}

// ExecSync's timeout kills the command's process and returns DeadlineExceeded.
func TestExecSyncTimeoutKillsProcess(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "exec"))
	cid := p.start(t, framework.ContainerConfig("main", pullBusybox(t, d.Images(t)), "exec sleep 3600"))

	_, err := execSync(t, d, cid, []string{"sleep", "1001"}, 2*time.Second)
	wantCode(t, err, codes.DeadlineExceeded, "ExecSync past its timeout")
	if err := framework.WaitFor(10*time.Second, func() error {
		out, err := execSync(t, d, cid, []string{"ps", "-o", "args"}, 10*time.Second)
		if err != nil {
			return err
		}
		if strings.Contains(string(out.Stdout), "sleep 1001") {
			return fmt.Errorf("still running:\n%s", out.Stdout)
		}
		return nil
	}); err != nil {
		t.Errorf("the timed-out command's process was not killed: %v", err)
	}
	_, err = execSync(t, d, cid, nil, time.Second)
	wantCode(t, err, codes.InvalidArgument, "ExecSync with no command")
}

// Pods start on a node that cannot pull the pause image, with dockercri's own.
func TestOfflinePauseFallback(t *testing.T) {
	t.Parallel()
	unreachable := fmt.Sprintf("127.0.0.1:%d/pause:offline", mustFreePort(t))
	d := env.StartDockercri(t, "--pod-infra-container-image", unreachable)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "offline"))
	insp, err := env.Docker.Client.ContainerInspect(ctx(t), p.id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(insp.Config.Image, "dockercri.local/pause:") || !insp.State.Running {
		t.Errorf("sandbox image %s running %v, want dockercri's own pause image, running", insp.Config.Image, insp.State.Running)
	}
	if !strings.Contains(d.Log(), "built-in pause image") {
		t.Errorf("dockercri did not log the fallback:\n%s", d.Log())
	}
	// The image is for dockerd's platform: the program dockercri picked is its
	// architecture's, and says so.
	v, err := env.Docker.Client.ServerVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	img, err := env.Docker.Client.ImageInspect(ctx(t), insp.Image)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := pause.ImageName(v.Arch); insp.Config.Image != want || img.Os != "linux" || img.Architecture != v.Arch {
		t.Errorf("built-in pause image %s for %s/%s, want %s for linux/%s (dockerd's)", insp.Config.Image, img.Os, img.Architecture, want, v.Arch)
	}
	// The built-in pause exits on SIGTERM at once: stopping takes no grace period.
	if err := rt.StopPodSandbox(ctx(t), p.id); err != nil {
		t.Fatal(err)
	}
	insp, err = env.Docker.Client.ContainerInspect(ctx(t), p.id)
	if err != nil || insp.State.ExitCode != 0 {
		t.Errorf("built-in pause after stop: exit %d, %v; want 0 (exited on SIGTERM)", insp.State.ExitCode, err)
	}
}

// A container left over under a new attempt's name is removed, not an endless conflict.
func TestLeftoverNameIsReplaced(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := pullBusybox(t, d.Images(t))
	cfg := env.SandboxConfig(t, "leftover")
	m := cfg.GetMetadata()
	name := fmt.Sprintf("k8s_POD_leftover_%s_%s_0", m.Namespace, m.Uid)
	left, err := env.Docker.Client.ContainerCreate(ctx(t), &container.Config{Image: ref, Cmd: []string{"sleep", "3600"}}, nil, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Docker.Client.ContainerRemove(context.Background(), left.ID, container.RemoveOptions{Force: true})
	})
	p := runPod(t, rt, cfg)
	if p.id == left.ID {
		t.Fatal("RunPodSandbox returned the leftover container")
	}
	if _, err := env.Docker.Client.ContainerInspect(ctx(t), left.ID); err == nil {
		t.Error("the leftover container is still there")
	}
}

// Bad configs are InvalidArgument or NotFound, never a crash or Unknown.
func TestInvalidPodAndContainerConfigs(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt, _ := d.Raw(t)
	_, err := rt.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{})
	wantCode(t, err, codes.InvalidArgument, "RunPodSandbox with no config")
	_, err = rt.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{Config: env.SandboxConfig(t, "x"), RuntimeHandler: "no-such-runtime"})
	wantCode(t, err, codes.InvalidArgument, "RunPodSandbox with an unknown runtime handler")
	_, err = rt.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{PodSandboxId: "0123456789ab", Config: framework.ContainerConfig("c", env.Busybox, "")})
	wantCode(t, err, codes.NotFound, "CreateContainer in a missing sandbox")
	_, err = rt.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{})
	wantCode(t, err, codes.InvalidArgument, "CreateContainer with no config")
	_, err = rt.ContainerStatus(ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: "0123456789ab"})
	wantCode(t, err, codes.NotFound, "ContainerStatus of a missing container")
	_, err = rt.PodSandboxStatus(ctx(t), &runtimeapi.PodSandboxStatusRequest{})
	wantCode(t, err, codes.InvalidArgument, "PodSandboxStatus with no id")

	p := runPod(t, d.Runtime(t), env.SandboxConfig(t, "mounts"))
	c := framework.ContainerConfig("m", pullBusybox(t, d.Images(t)), "sleep 1")
	c.Mounts = []*runtimeapi.Mount{{HostPath: "/nonexistent/dockercri-e2e", ContainerPath: "/data"}}
	_, err = rt.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: c, SandboxConfig: p.cfg})
	wantCode(t, err, codes.InvalidArgument, "CreateContainer with a missing mount source")
}

// Mounts: bind, read-only, through a symlink; devices.
func TestMountsAndDevices(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "mounts"))
	dir := env.TempDir(t, "mnt")
	if err := os.WriteFile(dir+"/hello", []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := env.TempDir(t, "lnk") + "/link"
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	c := framework.ContainerConfig("m", pullBusybox(t, d.Images(t)), "exec sleep 3600")
	c.Mounts = []*runtimeapi.Mount{
		{HostPath: dir, ContainerPath: "/rw"},
		{HostPath: link, ContainerPath: "/ro", Readonly: true},
	}
	c.Devices = []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/xnull", Permissions: "rwm"}}
	cid := p.start(t, c)
	out, err := execSync(t, d, cid, []string{"sh", "-c", "cat /ro/hello; echo w > /rw/written && echo rw-ok; echo w > /ro/fail || echo ro-refused; test -c /dev/xnull && echo dev-ok"}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"from-host", "rw-ok", "ro-refused", "dev-ok"} {
		if !strings.Contains(string(out.Stdout), want) {
			t.Errorf("mount checks: stdout %q lacks %q (stderr %q)", out.Stdout, want, out.Stderr)
		}
	}
	if b, err := os.ReadFile(dir + "/written"); err != nil || string(b) != "w\n" {
		t.Errorf("write through the rw mount: %q, %v", b, err)
	}
	st, err := rt.ContainerStatus(ctx(t), cid, false)
	if err != nil {
		t.Fatal(err)
	}
	if ms := st.GetStatus().GetMounts(); len(ms) != 2 || !ms[1].GetReadonly() || ms[1].GetContainerPath() != "/ro" {
		t.Errorf("status mounts = %v", ms)
	}
}

func mustFreePort(t *testing.T) int {
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// The sandbox config reaches Docker: runtime handler, sysctls, cgroup parent, the host's
// resolv.conf when the kubelet gives no DNS config; stop signals come from the image's
// STOPSIGNAL or the CRI's stop_signal, and StopPodSandbox stops the pod's containers.
func TestSandboxOptionsAndStopSignals(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	ref := withStopSignal(t, pullBusybox(t, d.Images(t)), "SIGUSR1")
	parent := "/" + env.Prefix + "-opts"
	t.Cleanup(func() { framework.RemoveCgroup(t, parent) }) // after the pod's removal
	cfg := env.SandboxConfig(t, "opts")
	cfg.Linux.CgroupParent = parent
	cfg.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1"}
	id, err := rt.RunPodSandbox(ctx(t), cfg, "runc")
	if err != nil {
		t.Fatal(err)
	}
	p := &pod{rt: rt, id: id, cfg: cfg}
	t.Cleanup(func() {
		if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	st, err := rt.PodSandboxStatus(ctx(t), id, false)
	if err != nil || st.GetStatus().GetRuntimeHandler() != "runc" {
		t.Errorf("sandbox runtime handler: %v, %v", st.GetStatus().GetRuntimeHandler(), err)
	}

	// Traps report which signal stopped the container, by its exit code.
	trap := `trap 'exit 10' USR1; trap 'exit 12' USR2; trap 'exit 15' TERM; while :; do sleep 0.1; done`
	imageSig := framework.ContainerConfig("imagesig", ref, trap)
	imageSigID := p.start(t, imageSig)
	criSig := framework.ContainerConfig("crisig", ref, trap)
	criSig.StopSignal = runtimeapi.Signal_SIGNAL_SIGUSR2
	criSigID := p.start(t, criSig)

	out, err := execSync(t, d, imageSigID, []string{"sh", "-c", "cat /proc/sys/kernel/shm_rmid_forced; cat /proc/self/cgroup; cat /etc/resolv.conf"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	stdout := string(out.Stdout)
	if !strings.HasPrefix(stdout, "1\n") {
		t.Errorf("sysctl kernel.shm_rmid_forced not applied to the pod: %q", stdout)
	}
	if !strings.Contains(stdout, ":"+parent+"/") {
		t.Errorf("container not under the pod's cgroup parent %s: %q", parent, stdout)
	}
	if !strings.HasSuffix(stdout, string(hostResolv)) {
		t.Errorf("resolv.conf without a DNS config is not the host's:\n%s\nhost:\n%s", stdout, hostResolv)
	}

	if err := rt.StopPodSandbox(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   string
		exit int32
	}{{imageSigID, 10}, {criSigID, 12}} {
		cs, err := rt.ContainerStatus(ctx(t), c.id, false)
		if err != nil || cs.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || cs.GetStatus().GetExitCode() != c.exit {
			t.Errorf("after StopPodSandbox: %v, %v; want exited with %d", cs.GetStatus(), err, c.exit)
		}
	}
}

// withStopSignal makes a local image from base with STOPSIGNAL sig (Docker 20.10's
// import cannot set it; a commit can) and returns its id.
func withStopSignal(t *testing.T, base, sig string) string {
	t.Helper()
	c, err := env.Docker.Client.ContainerCreate(ctx(t), &container.Config{Image: base}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Docker.Client.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	img, err := env.Docker.Client.ContainerCommit(ctx(t), c.ID, container.CommitOptions{Config: &container.Config{StopSignal: sig, Cmd: []string{"/bin/sh"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.Docker.Client.ImageRemove(context.Background(), img.ID, image.RemoveOptions{Force: true})
	})
	return img.ID
}

// Paths a request names stay where the CRI puts them: a relative log_directory, a
// log_path that leaves it, or one through a symlink are InvalidArgument and create
// nothing; so are port-forwards to ports that are no TCP ports, and labels or
// annotations beyond the Kubernetes limits (a 5 MiB annotation).
func TestHostileRequestsRefused(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	bad := env.SandboxConfig(t, "relative")
	bad.LogDirectory = "../../tmp/dcri-relative-" + env.Prefix
	_, err := rt.RunPodSandbox(ctx(t), bad, "")
	wantCode(t, err, codes.InvalidArgument, "relative log_directory")
	if _, err := os.Stat(filepath.Join("/tmp", "dcri-relative-"+env.Prefix)); err == nil {
		t.Errorf("a relative log_directory was created")
	}

	p := runPod(t, rt, env.SandboxConfig(t, "paths"))
	ref := pullBusybox(t, d.Images(t))
	outside := env.TempDir(t, "outside")
	if err := os.Symlink(outside, filepath.Join(p.cfg.LogDirectory, "linked")); err != nil {
		t.Fatal(err)
	}
	escape := "escape-" + env.Prefix + ".log"
	for _, logPath := range []string{"../../../../../../../../tmp/" + escape, "/tmp/" + escape, "linked/" + escape} {
		c := framework.ContainerConfig("c", ref, "echo escaped")
		c.LogPath = logPath
		_, err := rt.CreateContainer(ctx(t), p.id, c, p.cfg)
		wantCode(t, err, codes.InvalidArgument, "log_path "+logPath)
	}
	for _, f := range []string{filepath.Join("/tmp", escape), filepath.Join(outside, escape)} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("a log outside the log directory was created: %s", f)
		}
	}
	for _, port := range []int32{-1, 0, 70000} {
		_, err := rt.PortForward(ctx(t), &runtimeapi.PortForwardRequest{PodSandboxId: p.id, Port: []int32{port}})
		wantCode(t, err, codes.InvalidArgument, fmt.Sprintf("port-forward to port %d", port))
	}

	huge := env.SandboxConfig(t, "huge")
	huge.Annotations = map[string]string{"big": strings.Repeat("x", 5<<20)}
	_, err = rt.RunPodSandbox(ctx(t), huge, "")
	wantCode(t, err, codes.InvalidArgument, "a 5 MiB annotation")
	c := framework.ContainerConfig("c", ref, "true")
	c.Labels["bad key!"] = "v"
	_, err = rt.CreateContainer(ctx(t), p.id, c, p.cfg)
	wantCode(t, err, codes.InvalidArgument, "a label key that is no qualified name")

	// The limits are those of what the API server admits and the kubelet adds: a pod's
	// name may be 253 characters long, and the kubelet puts it in a label.
	long := env.SandboxConfig(t, "long")
	long.Metadata.Name = strings.Repeat("n", 253)
	long.Labels["io.kubernetes.pod.name"] = long.Metadata.Name
	lp := runPod(t, rt, long)
	lc := framework.ContainerConfig("c", ref, "true")
	lc.Labels["io.kubernetes.pod.name"] = long.Metadata.Name
	if _, err := rt.CreateContainer(ctx(t), lp.id, lc, long); err != nil {
		t.Errorf("a container of a pod with a 253-character name: %v", err)
	}
}

// ExecSync of a command writing more than the kubelet's 16 MiB message limit answers,
// through the kubelet's own client, with the output cut to fit and saying so.
func TestExecSyncOutputFitsTheWire(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	p := runPod(t, d.Runtime(t), env.SandboxConfig(t, "bigexec"))
	cid := p.start(t, framework.ContainerConfig("c", pullBusybox(t, d.Images(t)), "exec sleep 3600"))
	stdout, stderr, err := p.rt.ExecSync(ctx(t), cid, []string{"sh", "-c", "head -c 20971520 /dev/zero; head -c 1048576 /dev/zero >&2"}, time.Minute)
	if err != nil {
		t.Fatalf("ExecSync of 21 MiB of output: %v", err)
	}
	if total := len(stdout) + len(stderr); total > 16<<20 || len(stdout) < 15<<20 {
		t.Errorf("kept %d bytes of stdout and %d of stderr: want most of 16 MiB and no more", len(stdout), len(stderr))
	}
	if !strings.HasSuffix(string(stderr), "output truncated: stdout and stderr together exceeded 16 MiB]\n") {
		t.Errorf("the answer does not say the output was cut: stderr ends %q", stderr[max(0, len(stderr)-80):])
	}
}

// A pod may bind a host directory that holds Docker's root (a node exporter binds /):
// Docker refuses that bind private, so dockercri asks for rslave, and the container
// runs and sees the host's files. (The directory must be a shared mount, as / is under
// systemd: a dockerd of the test's own has its root in one.)
func TestBindAboveDockerRoot(t *testing.T) {
	t.Parallel()
	dir := env.TempDir(t, "shared")
	for _, args := range [][]string{{"--bind", dir, dir}, {"--make-shared", dir}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v: %s", args, err, out)
		}
	}
	docker, err := framework.StartPrivateDockerd(filepath.Join(dir, "dockerd"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = docker.Stop()
		_ = exec.Command("umount", "-l", dir).Run()
	})
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := env.StartDockercri(t, "--docker-endpoint", docker.Endpoint)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "aboveroot"))
	c := framework.ContainerConfig("c", pullBusybox(t, d.Images(t)), "exec sleep 3600")
	c.Mounts = []*runtimeapi.Mount{{HostPath: dir, ContainerPath: "/host", Readonly: true}}
	cid := p.start(t, c)
	stdout, _, err := rt.ExecSync(ctx(t), cid, []string{"cat", "/host/marker"}, 30*time.Second)
	if err != nil || string(stdout) != "from the host\n" {
		t.Errorf("the host's file in the container: %q, %v", stdout, err)
	}
}
