//go:build vm

package vm

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// kubelet is the node's kubelet, made by TestNode, started by kubeletRuns.
var kubelet *framework.Kubelet

// podPidsLimit is the kubelet's pids limit of each pod, which it sets on the pod's slice.
const podPidsLimit = 64

// newKubelet prepares the real kubelet as kubeadm configures it on a systemd node: the
// systemd cgroup driver, the default failCgroupV1 (true: cgroup v2 is what it wants).
func newKubelet(t *testing.T) *framework.Kubelet {
	k := env.NewKubelet(t, filepath.Join(dir, "kubelet"), endpoint, "/")
	k.Config["cgroupDriver"] = "systemd"
	delete(k.Config, "failCgroupV1")
	k.Config["podPidsLimit"] = podPidsLimit
	k.Config["runtimeRequestTimeout"] = "10m"
	k.StartTimeout = slow
	return k
}

const webScript = `mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www`

// kubeletRuns: the kubelet runs a static pod on dockercri, in its slices with its limits,
// and serves its logs, exec and stats, from cAdvisor and from the CRI.
func kubeletRuns(t *testing.T) {
	// The kubelet removes pods it did not make: the CRI steps' pod goes first.
	rt := cri.Runtime(t)
	if err := rt.StopPodSandbox(ctx(t), direct.id); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemovePodSandbox(ctx(t), direct.id); err != nil {
		t.Fatal(err)
	}
	k := kubelet
	k.AddPod(t, framework.WithLimits(framework.StaticPod("web", busybox, corev1.RestartPolicyAlways,
		"web", webScript,
		"logger", `i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done`),
		map[corev1.ResourceName]string{corev1.ResourceCPU: "500m", corev1.ResourceMemory: "64Mi"}))
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	p := waitWeb(t)
	_, slice := podSlice(string(p.UID))
	for _, cs := range p.Status.ContainerStatuses {
		cg := containerCgroup(t, strings.TrimPrefix(cs.ContainerID, "docker://"))
		if filepath.Dir(cg) != slice {
			t.Errorf("container %s runs in %s, want a scope in %s", cs.Name, cg, slice)
		}
		if cs.Name != "web" {
			continue
		}
		if got := cgroupFile(t, cg, "cpu.max"); got != "50000 100000" {
			t.Errorf("web's cpu.max %q, want 50000 100000 (500m)", got)
		}
		if got := cgroupFile(t, cg, "memory.max"); got != fmt.Sprint(64<<20) {
			t.Errorf("web's memory.max %q, want %d", got, 64<<20)
		}
	}
	if got := cgroupFile(t, slice, "pids.max"); got != fmt.Sprint(podPidsLimit) {
		t.Errorf("pids.max of the pod's slice %q, want the kubelet's podPidsLimit %d", got, podPidsLimit)
	}

	if err := k.WaitLog(p.Name, "logger", "tick 2", slow); err != nil {
		t.Error(err)
	}
	if out, err := k.Post("/run/default/" + p.Name + "/web?cmd=" + url.QueryEscape("cat /www/index.html")); err != nil || strings.TrimSpace(string(out)) != "hello-from-web" {
		t.Errorf("exec (/run): %q, %v", out, err)
	}

	// Stats in both of the kubelet's modes: cAdvisor's (its default), then from the CRI.
	podStats := func(mode string, network bool) {
		if err := framework.WaitFor(slow, func() error {
			_, err := k.PodStats(p.Name, 2, network)
			return err
		}); err != nil {
			t.Errorf("/stats/summary, %s: %v", mode, err)
		}
	}
	podStats("cAdvisor", false)
	k.Stop()
	k.Config["featureGates"] = map[string]bool{"PodAndContainerStatsFromCRI": true}
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	waitWeb(t)
	podStats("PodAndContainerStatsFromCRI", true)
	b, err := k.Get("/metrics/cadvisor")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`container_memory_working_set_bytes{container="web",id=`,
		fmt.Sprintf(`container_processes{container="",id=%q`, strings.TrimPrefix(slice, "/sys/fs/cgroup")),
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics/cadvisor from the CRI has no %s:\n%.3000s", want, b)
		}
	}
}

// waitWeb waits for the web pod to run and returns it.
func waitWeb(t *testing.T) *corev1.Pod {
	t.Helper()
	p, err := kubelet.WaitPod("web", 2*slow, framework.Running)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// podsKept checks that what ran before still runs, the same containers: in Docker, as
// dockercri's ready pods, and for the kubelet, after two of its syncs (10 s each) in which
// it could have restarted them.
type podsKept struct {
	containers, pods []string
	web              map[string]string
}

func keep(t *testing.T) podsKept {
	web := webContainers(t) // first: it waits for the pod to run
	return podsKept{containers: runningIDs(t), pods: readyPods(t), web: web}
}

func (k podsKept) check(t *testing.T, what string) {
	t.Helper()
	if err := framework.WaitFor(slow, func() error { return ready(t) }); err != nil {
		t.Fatalf("after %s: %v", what, err)
	}
	time.Sleep(20 * time.Second)
	if got := runningIDs(t); !slices.Equal(got, k.containers) {
		t.Errorf("after %s, running containers %v, before %v", what, got, k.containers)
	}
	if got := readyPods(t); !slices.Equal(got, k.pods) {
		t.Errorf("after %s, dockercri's ready pods %v, before %v", what, got, k.pods)
	}
	if got := webContainers(t); fmt.Sprint(got) != fmt.Sprint(k.web) {
		t.Errorf("after %s, the kubelet's web containers %v, before %v", what, got, k.web)
	}
}

// webContainers are the web pod's container ids and restart counts, as the kubelet says.
func webContainers(t *testing.T) map[string]string { return framework.ContainerIDs(waitWeb(t)) }

// restarted: systemctl restart dockercri keeps every pod.
func restarted(t *testing.T) {
	kept := keep(t)
	before := show(t, "dockercri.service")
	run(t, "systemctl", "restart", "dockercri")
	after := show(t, "dockercri.service")
	if after.ActiveState != "active" || after.MainPID == before.MainPID {
		t.Errorf("dockercri.service after restart: %+v (before: pid %d)", after, before.MainPID)
	}
	kept.check(t, "systemctl restart dockercri")
}

// stoppedAndActivated: stopping the socket and the service stops dockercri alone; the
// next call after the socket is back starts it, and it finds every pod.
func stoppedAndActivated(t *testing.T) {
	kept := keep(t)
	run(t, "systemctl", "stop", "dockercri.socket", "dockercri")
	for _, name := range []string{"dockercri.socket", "dockercri.service"} {
		if u := show(t, name); u.ActiveState != "inactive" {
			t.Errorf("%s after stop: %+v", name, u)
		}
	}
	if got := runningIDs(t); !slices.Equal(got, kept.containers) {
		t.Errorf("with dockercri stopped, running containers %v, before %v", got, kept.containers)
	}
	run(t, "systemctl", "start", "dockercri.socket")
	kept.check(t, "systemctl stop dockercri.socket dockercri; systemctl start dockercri.socket")
	if u := show(t, "dockercri.service"); u.ActiveState != "active" {
		t.Errorf("dockercri.service after a call on the socket: %+v", u)
	}
}

// dockerStopped: with Docker stopped (its socket too, else the next call starts it
// again) dockercri runs on and says the runtime is not ready; with Docker started again
// it is ready, and the kubelet runs the pod again (its containers died with dockerd).
func dockerStopped(t *testing.T) {
	before := webContainers(t)
	run(t, "systemctl", "stop", "docker.socket", "docker.service")
	if u := show(t, "dockercri.service"); u.ActiveState != "active" {
		t.Fatalf("dockercri.service with Docker stopped: %+v, want it running on, reporting the runtime not ready", u)
	}
	if err := framework.WaitFor(slow, func() error {
		err := ready(t)
		if err == nil || !strings.Contains(err.Error(), "DockerDaemonNotReady") {
			return fmt.Errorf("Status with Docker stopped: %v", err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	run(t, "systemctl", "start", "docker")
	if err := framework.WaitFor(slow, func() error { return ready(t) }); err != nil {
		t.Fatalf("Status after Docker started again: %v", err)
	}
	if _, err := kubelet.WaitPod("web", 2*slow, func(p *corev1.Pod) error {
		if err := framework.Running(p); err != nil {
			return err
		}
		if fmt.Sprint(framework.ContainerIDs(p)) == fmt.Sprint(before) {
			return fmt.Errorf("still the containers from before Docker stopped")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// upgraded: dpkg -i of a newer build restarts dockercri on the new binary and keeps
// every pod.
func upgraded(t *testing.T) {
	kept := keep(t)
	before := show(t, "dockercri.service")
	run(t, "dpkg", "-i", filepath.Join(dir, "dockercri-next.deb"))
	after := show(t, "dockercri.service")
	if after.ActiveState != "active" || after.MainPID == before.MainPID {
		t.Errorf("dockercri.service after the upgrade: %+v (before: pid %d), want restarted", after, before.MainPID)
	}
	if v := run(t, "/usr/bin/dockercri", "version"); !strings.Contains(v, "-next") {
		t.Errorf("dockercri version after the upgrade: %s", v)
	}
	kept.check(t, "the upgrade")
}

// removed: dpkg -r stops dockercri and leaves the pods' containers running.
func removed(t *testing.T) {
	kept := keep(t)
	kubelet.Stop() // it would only report the runtime gone
	run(t, "dpkg", "-r", "dockercri")
	for _, name := range []string{"dockercri.socket", "dockercri.service"} {
		if u := show(t, name); u.ActiveState != "inactive" {
			t.Errorf("%s after removal: %+v", name, u)
		}
	}
	if _, err := os.Stat("/usr/bin/dockercri"); !os.IsNotExist(err) {
		t.Errorf("/usr/bin/dockercri after removal: %v", err)
	}
	if got := runningIDs(t); !slices.Equal(got, kept.containers) {
		t.Errorf("after removal, running containers %v, before %v", got, kept.containers)
	}
}
