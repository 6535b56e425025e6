//go:build vm

package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	corev1 "k8s.io/api/core/v1"

	"github.com/dockercri/dockercri/core/pause"
	"github.com/dockercri/dockercri/test/e2e/framework"
)

// dockershimRoot is dockershim's state directory (its sandbox checkpoints), the 1.23
// kubelet's default, which dockercri is pointed at when it takes the node over.
const dockershimRoot = "/var/lib/dockershim"

// TestDockershim moves a node from dockershim to dockercri as the README's migration
// section says, with the last kubelet that has dockershim built in (Kubernetes 1.23,
// make kubelet-dockershim): the kubelet runs a static pod with CNI networking and a
// hostPort on the node's Docker (cgroup v2, the systemd driver); then it is stopped,
// dockercri started on dockershim's root directory and the same kubelet restarted with
// dockercri's endpoint. The pod keeps running: the same Docker containers, started at
// the same time with the same processes, the same IP, its log read on from Docker's
// json-file. Then its manifest is removed and nothing of it is left. It runs before
// TestNode (file order) and leaves the node as it found it.
func TestDockershim(t *testing.T) {
	bin := filepath.Join(dir, "kubelet-dockershim")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the 1.23 kubelet (make kubelet-dockershim): %v", err)
	}
	// dockershim's pause image, present on the node: it has no registry to pull from.
	pauseFS, err := pause.RootFS(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	pauseImage := "dcri-vm/pause:3.6"
	if _, err := framework.ImportImage(ctx(t), docker, pauseFS, pauseImage, pause.Cmd); err != nil {
		t.Fatal(err)
	}
	// dockershim's libcni (v0.8) knows CNI versions up to 0.4.0.
	n := env.NewCNINetwork(t)
	if err := os.MkdirAll(n.ConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(n.Conflist(), `"cniVersion": "1.0.0"`, `"cniVersion": "0.4.0"`, 1)
	if err := os.WriteFile(filepath.Join(n.ConfDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dockershimRoot) })

	k := env.NewKubelet(t, bin, "", "/")
	// What the 1.23 kubelet has no field for (its configuration decoder ignores unknown
	// fields, with a warning, but not a kubelet flag it does not know).
	for _, f := range []string{"containerRuntimeEndpoint", "failCgroupV1", "podLogsDir"} {
		delete(k.Config, f)
	}
	k.Config["cgroupDriver"] = "systemd"
	k.Config["runtimeRequestTimeout"] = "10m"
	k.StartTimeout = slow
	base := k.Args
	k.Args = append(slices.Clone(base),
		"--container-runtime=docker", "--docker-endpoint", framework.HostDockerEndpoint,
		"--network-plugin=cni", "--cni-conf-dir", n.ConfDir, "--cni-bin-dir", framework.CNIBinDir, "--cni-cache-dir", n.CacheDir,
		"--pod-infra-container-image", pauseImage)
	pod := framework.StaticPod("shim", busybox, corev1.RestartPolicyAlways,
		"web", webScript,
		"logger", `i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done`)
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 18080, Protocol: corev1.ProtocolTCP}}
	k.AddPod(t, pod)
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := k.WaitPod("shim", 2*slow, framework.Running)
	if err != nil {
		t.Fatal(err)
	}
	uid := string(p.UID)
	// Whatever a failed run leaves of the pod goes, so that TestNode's kubelet does not
	// find it: the kubelet first, which would start it again.
	t.Cleanup(func() {
		k.Stop()
		for id := range podContainers(t, uid) {
			_ = docker.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true})
		}
	})
	before := podContainers(t, uid)
	var sandbox string
	for id, c := range before {
		if c.sandbox {
			sandbox = id
		}
	}
	if len(before) != 3 || sandbox == "" || before[sandbox].ip != p.Status.PodIP {
		t.Fatalf("the pod's Docker containers under dockershim: %+v, want a sandbox with the pod's IP %s and two", before, p.Status.PodIP)
	}
	if _, err := os.Stat(filepath.Join(dockershimRoot, "sandbox", sandbox)); err != nil {
		t.Errorf("dockershim's checkpoint of the sandbox: %v", err)
	}
	if !strings.HasPrefix(p.Status.PodIP, strings.TrimSuffix(n.Subnet, "0/24")) {
		t.Errorf("pod IP %s, want one of %s", p.Status.PodIP, n.Subnet)
	}
	if !strings.Contains(iptablesSave(t), p.Status.PodIP) {
		t.Errorf("no iptables rule for the pod's hostPort (%s) under dockershim", p.Status.PodIP)
	}
	if err := k.WaitLog(p.Name, "logger", "tick 2", slow); err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Status.ContainerStatuses {
		id := strings.TrimPrefix(c.ContainerID, "docker://")
		link := filepath.Join("/var/log/pods", "default_"+p.Name+"_"+uid, c.Name, "0.log")
		if target, err := os.Readlink(link); err != nil || target != before[id].logPath {
			t.Errorf("%s: dockershim's log symlink %q → %q (%v), want Docker's json-file %s", c.Name, link, target, err, before[id].logPath)
		}
	}
	ids := framework.ContainerIDs(p)

	// The README's steps: stop the old CRI server (dockershim is the kubelet), start
	// dockercri on the old server's root directory, restart the kubelet with its endpoint.
	k.Stop()
	d := dockercri(t, n, pauseImage)
	k.Args = append(slices.Clone(base), "--container-runtime=remote", "--container-runtime-endpoint", d.Endpoint)
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	// Two of the kubelet's periodic syncs of the pod (from its metrics), in which it
	// could have restarted anything.
	if err := framework.WaitFor(2*slow, func() error {
		if n := podSyncs(k); n < 2 {
			return fmt.Errorf("%d pod syncs of the kubelet on dockercri, want 2", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p, err = k.WaitPod("shim", 2*slow, framework.Running)
	if err != nil {
		t.Fatal(err)
	}
	if got := framework.ContainerIDs(p); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("the kubelet's containers on dockercri %v, under dockershim %v", got, ids)
	}
	if after := podContainers(t, uid); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the pod's Docker containers on dockercri:\n%+v\nunder dockershim:\n%+v", after, before)
	}
	if ip := p.Status.PodIP; ip != "" && !strings.Contains(iptablesSave(t), ip) {
		t.Errorf("the pod's hostPort rule (%s) is gone on dockercri", ip)
	}
	ip := p.Status.PodIP
	if ip != before[sandbox].ip {
		t.Errorf("pod IP on dockercri %q, under dockershim %q", ip, before[sandbox].ip)
	}
	// The old lines and new ones, from Docker's file, which dockercri never writes.
	b, err := k.Get("/containerLogs/default/" + p.Name + "/logger")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var lastTick int
	if _, err := fmt.Sscanf(lines[len(lines)-1], "tick %d", &lastTick); err != nil || lines[0] != "tick 0" {
		t.Errorf("the logger's log on dockercri: first line %q, last %q, want the lines from dockershim's time on", lines[0], lines[len(lines)-1])
	} else if err := k.WaitLog(p.Name, "logger", fmt.Sprintf("tick %d\n", lastTick+2), slow); err != nil {
		t.Error(err)
	}
	if out, err := k.Post("/run/default/" + p.Name + "/web?cmd=cat%20/www/index.html"); err != nil || strings.TrimSpace(string(out)) != "hello-from-web" {
		t.Errorf("exec on dockercri: %q, %v", out, err)
	}

	// Removed: nothing of the pod is left — containers, checkpoints, IP, CNI cache,
	// hostPort rules.
	k.RemovePod(t, "shim")
	if err := framework.WaitFor(2*slow, func() error {
		if left := podContainers(t, uid); len(left) > 0 {
			return fmt.Errorf("the pod's containers are left: %+v", left)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for what, d := range map[string]string{"checkpoints": filepath.Join(dockershimRoot, "sandbox"), "CNI cache": filepath.Join(n.CacheDir, "results")} {
		if left, _ := filepath.Glob(filepath.Join(d, "*")); len(left) > 0 {
			t.Errorf("%s left: %v", what, left)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(n.IPAMDir, "*", strings.TrimSuffix(n.Subnet, "0/24")+"*")); len(left) > 0 {
		t.Errorf("IP reservations left: %v", left)
	}
	if rules := iptablesSave(t); strings.Contains(rules, ip+":") || strings.Contains(rules, ip+"/32") {
		t.Errorf("iptables rules of the pod's IP %s left:\n%s", ip, rules)
	}
	k.Stop()
}

// shimContainer is what must not change of a pod's Docker container across the move.
type shimContainer struct {
	sandbox          bool
	startedAt, state string
	pid              int
	logPath, ip      string
}

// podContainers are the Docker containers of the pod with this uid, by id.
func podContainers(t *testing.T, uid string) map[string]shimContainer {
	t.Helper()
	list, err := docker.ContainerList(ctx(t), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.kubernetes.pod.uid="+uid))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]shimContainer{}
	for _, c := range list {
		insp, err := docker.ContainerInspect(ctx(t), c.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed since the list (the kubelet's garbage collection)
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := shimContainer{sandbox: c.Labels["io.kubernetes.docker.type"] == "podsandbox", startedAt: insp.State.StartedAt, state: insp.State.Status, pid: insp.State.Pid, logPath: insp.LogPath}
		if sc.sandbox && sc.pid != 0 {
			sc.ip = eth0IP(sc.pid)
		}
		out[c.ID] = sc
	}
	return out
}

// eth0IP is eth0's IPv4 address in the network namespace of process pid, "" if it
// has none (a sandbox being stopped has its network torn down first).
func eth0IP(pid int) string {
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-n", "ip", "-4", "-o", "addr", "show", "dev", "eth0").Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "inet" {
			ip, _, _ := strings.Cut(f[i+1], "/")
			return ip
		}
	}
	return ""
}

func iptablesSave(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	return string(out)
}

// dockercri starts this tree's dockercri, from its package unpacked (TestNode installs
// the package itself, later), on the node's Docker, the pod network dockershim had and
// dockershim's root directory, as the README's migration section says.
func dockercri(t *testing.T, n *framework.CNINetwork, pauseImage string) *framework.Dockercri {
	t.Helper()
	root := env.TempDir(t, "deb")
	run(t, "dpkg-deb", "-x", filepath.Join(dir, "dockercri.deb"), root)
	prev := env.Binary
	env.Binary = filepath.Join(root, "usr/bin/dockercri")
	d := env.NewDockercri(t, append(n.Args(), "--cri-dockerd-root-directory", dockershimRoot, "--pod-infra-container-image", pauseImage)...)
	env.Binary = prev
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	return d
}
