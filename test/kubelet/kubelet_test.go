//go:build kubelet

package kubelet

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

const webScript = `mkdir -p /www && echo hello-from-web > /www/index.html && head -c 10000000 /dev/urandom > /www/big && exec httpd -f -p 8080 -h /www`

// TestKubelet runs the scenarios of a node's life on one node, in order: the pods
// made at the start age through them.
func TestKubelet(t *testing.T) {
	n := startNode(t)
	k := n.kubelet
	k.AddPod(t, pod("web", corev1.RestartPolicyAlways,
		"web", webScript,
		"logger", `i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done`))
	k.AddPod(t, pod("crash", corev1.RestartPolicyAlways, "crash", `echo started; sleep 2; exit 3`))
	k.AddPod(t, withMemoryLimit(pod("oom", corev1.RestartPolicyNever, "oom", `dd if=/dev/zero of=/dev/null bs=128M count=1`), "32Mi"))
	k.AddPod(t, pod("chatty", corev1.RestartPolicyAlways, "chatty", `while :; do head -c 100000 /dev/zero | tr '\0' x; echo; sleep 0.05; done`))

	t.Run("two containers run", func(t *testing.T) { webRuns(t, n) })
	t.Run("exited container restarted", func(t *testing.T) { crashRestarts(t, n) })
	t.Run("OOMKilled", func(t *testing.T) { oomKilled(t, n) })
	t.Run("log rotation", func(t *testing.T) { logRotation(t, n) })
	t.Run("dockercri killed", func(t *testing.T) { dockercriKilled(t, n) })
	t.Run("stats from CRI", func(t *testing.T) { statsFromCRI(t, n) })
	t.Run("dockerd restarted", func(t *testing.T) { dockerdRestarted(t, n) })
	t.Run("node overhead", func(t *testing.T) { nodeOverhead(t, n) })
	t.Run("manifests removed", func(t *testing.T) { manifestsRemoved(t, n) })
}

func webRuns(t *testing.T, n *node) {
	k := n.kubelet
	p := n.waitRunning(t, "web")
	ip := net.ParseIP(p.Status.PodIP)
	_, subnet, _ := net.ParseCIDR(n.net.Subnet)
	if ip == nil || !subnet.Contains(ip) {
		t.Errorf("pod IP %q outside the CNI network %s", p.Status.PodIP, n.net.Subnet)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if !strings.HasPrefix(cs.ContainerID, "docker://") || cs.RestartCount != 0 {
			t.Errorf("container status %s: id %q, restarts %d", cs.Name, cs.ContainerID, cs.RestartCount)
		}
	}
	// Docker shows the pod under dockershim's names.
	names := strings.Join(n.dockerNames(t), " ")
	for _, c := range []string{"POD", "web", "logger"} {
		want := fmt.Sprintf("k8s_%s_%s_default_%s_0", c, p.Name, p.UID)
		if !strings.Contains(names, want) {
			t.Errorf("no Docker container %s among %s", want, names)
		}
	}

	// Logs, through the kubelet's API.
	if err := k.WaitLog(p.Name, "logger", "tick 2", 30*time.Second); err != nil {
		t.Error(err)
	}

	// Exec: the kubelet's one-shot /run, and a streaming exec with separate streams and
	// an exit code, both proxied to dockercri's streaming server.
	out, err := k.Post("/run/default/" + p.Name + "/web?cmd=" + url.QueryEscape("cat /www/index.html"))
	if err != nil || strings.TrimSpace(string(out)) != "hello-from-web" {
		t.Errorf("/run: %q, %v", out, err)
	}
	q := url.Values{"command": {"sh", "-c", "echo out; echo err >&2; exit 3"}, "output": {"1"}, "error": {"1"}}
	u, _ := url.Parse(k.URL("/exec/default/" + p.Name + "/web?" + q.Encode()))
	ex, err := remotecommand.NewSPDYExecutor(insecure(), "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	var ee utilexec.ExitError
	if !asExit(err, &ee) || ee.ExitStatus() != 3 || stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("exec through the kubelet: stdout %q stderr %q err %v; want out, err, exit 3", stdout.String(), stderr.String(), err)
	}

	// Port-forward through the kubelet, 10 MB from the pod's HTTP server.
	local := forward(t, k.URL("/portForward/default/"+p.Name), 8080)
	body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", local))
	if strings.TrimSpace(string(body)) != "hello-from-web" {
		t.Errorf("port-forward: %q", body)
	}
	big := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/big", local))
	sum, err := k.Post("/run/default/" + p.Name + "/web?cmd=" + url.QueryEscape("wc -c /www/big"))
	if err != nil || len(big) != 10000000 || !strings.HasPrefix(strings.TrimSpace(string(sum)), "10000000") {
		t.Errorf("port-forward of 10 MB: got %d bytes; in the pod: %q, %v", len(big), sum, err)
	}
}

func asExit(err error, ee *utilexec.ExitError) bool {
	e, ok := err.(utilexec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}

func insecure() *restclient.Config {
	return &restclient.Config{TLSClientConfig: restclient.TLSClientConfig{Insecure: true}}
}

// forward starts kubectl's port-forward client (SPDY) on rawURL and returns the local port.
func forward(t *testing.T, rawURL string, port int) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(insecure())
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	local, _ := framework.StartPortForward(t, dialer, port)
	return local
}

func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func crashRestarts(t *testing.T, n *node) {
	p, err := n.kubelet.WaitPod("crash", 2*time.Minute, func(p *corev1.Pod) error {
		for _, cs := range p.Status.ContainerStatuses {
			if last := cs.LastTerminationState.Terminated; cs.RestartCount >= 1 && last != nil && last.ExitCode == 3 {
				return nil
			}
		}
		return fmt.Errorf("not restarted after exit 3 yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	// The attempt is the last part of the Docker name.
	want := fmt.Sprintf("k8s_crash_%s_default_%s_1", p.Name, p.UID)
	if names := strings.Join(n.dockerNames(t), " "); !strings.Contains(names, want) {
		t.Errorf("no Docker container %s for the first restart among %s", want, names)
	}
	n.kubelet.RemovePod(t, "crash")
}

func oomKilled(t *testing.T, n *node) {
	_, err := n.kubelet.WaitPod("oom", 2*time.Minute, func(p *corev1.Pod) error {
		for _, cs := range p.Status.ContainerStatuses {
			if term := cs.State.Terminated; term != nil {
				if term.Reason != "OOMKilled" || term.ExitCode != 137 {
					return fmt.Errorf("terminated with %d %q, want 137 OOMKilled", term.ExitCode, term.Reason)
				}
				return nil
			}
		}
		return fmt.Errorf("not terminated yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	n.kubelet.RemovePod(t, "oom")
}

// logRotation: the kubelet renames a log over containerLogMaxSize (1 MiB here; it looks
// every containerLogMonitorInterval, 10 s by default) and asks
// dockercri to reopen it (ReopenContainerLog); the container's output goes on into the
// new file.
func logRotation(t *testing.T, n *node) {
	k := n.kubelet
	p := n.waitRunning(t, "chatty")
	dir := filepath.Join(k.LogDir, fmt.Sprintf("default_%s_%s", p.Name, p.UID), "chatty")
	if err := framework.WaitFor(90*time.Second, func() error {
		rotated, _ := filepath.Glob(filepath.Join(dir, "0.log.*"))
		if len(rotated) < 2 {
			return fmt.Errorf("%d rotated files in %s", len(rotated), dir)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Between its rename and ReopenContainerLog the kubelet leaves no 0.log: a missing
	// file is a moment of the rotation, not a failure.
	log := filepath.Join(dir, "0.log")
	var before os.FileInfo
	if err := framework.WaitFor(5*time.Second, func() (err error) {
		before, err = os.Stat(log)
		return err
	}); err != nil {
		t.Fatalf("no 0.log after rotation: %v", err)
	}
	// dockercri writes on into the new 0.log: it grows, or is rotated again and
	// refilled.
	if err := framework.WaitFor(5*time.Second, func() error {
		after, err := os.Stat(log)
		if err != nil {
			return err
		}
		if os.SameFile(before, after) && after.Size() <= before.Size() || after.Size() == 0 {
			return fmt.Errorf("0.log not written after rotation: %d → %d bytes", before.Size(), after.Size())
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	// The kubelet reads the newest file only, which a rotation just then leaves empty.
	var b []byte
	if err := framework.WaitFor(5*time.Second, func() (err error) {
		b, err = k.Get("/containerLogs/default/" + p.Name + "/chatty?tailLines=1")
		if err == nil && !strings.Contains(string(b), "xxxxxxxx") {
			err = fmt.Errorf("no output")
		}
		return err
	}); err != nil {
		t.Errorf("logs after rotation: %.100q, %v", b, err)
	}
	k.RemovePod(t, "chatty")
}

// dockercriKilled: dockercri dies (kill -9) and comes back; the kubelet finds the same
// pod and containers and restarts nothing.
func dockercriKilled(t *testing.T, n *node) {
	before := n.waitRunning(t, "web")
	pods := n.sandboxIDs(t)
	n.cri.Process().Kill()
	time.Sleep(3 * time.Second)
	if err := n.cri.Start(); err != nil {
		t.Fatal(err)
	}
	// Two of the kubelet's sync periods (10 s) after the restart.
	time.Sleep(20 * time.Second)
	after := n.waitRunning(t, "web")
	if b, a := framework.ContainerIDs(before), framework.ContainerIDs(after); fmt.Sprint(b) != fmt.Sprint(a) {
		t.Errorf("containers changed across dockercri's restart: %v → %v", b, a)
	}
	if a := n.sandboxIDs(t); fmt.Sprint(a) != fmt.Sprint(pods) {
		t.Errorf("pods changed across dockercri's restart: %v → %v", pods, a)
	}
}

// statsFromCRI: with PodAndContainerStatsFromCRI the kubelet's /stats/summary and
// /metrics/cadvisor come from dockercri's stats and metrics RPCs, not cAdvisor.
func statsFromCRI(t *testing.T, n *node) {
	k := n.kubelet
	k.Stop()
	k.Config["featureGates"] = map[string]bool{"PodAndContainerStatsFromCRI": true}
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	p := n.waitRunning(t, "web")
	if err := framework.WaitFor(60*time.Second, func() error {
		_, err := k.PodStats(p.Name, 2, true)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Only dockercri's ListPodSandboxMetrics names the pod in /metrics/cadvisor now.
	b, err := k.Get("/metrics/cadvisor")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`container_memory_working_set_bytes{container="web",id=`),
		fmt.Sprintf(`container_network_receive_bytes_total{container="POD",`),
		fmt.Sprintf(`pod="%s"`, p.Name),
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics/cadvisor has no %s:\n%.2000s", want, b)
		}
	}
	for _, bad := range []string{"Unimplemented", "Failed to get pod metrics", "Error reading MetricDescriptors"} {
		if strings.Contains(k.Log(), bad) {
			t.Errorf("kubelet log has %q", bad)
		}
	}
}

// dockerdRestarted: with dockerd stopped the kubelet sees the runtime not ready; once it
// is back, the pod (whose containers died with dockerd) runs again.
func dockerdRestarted(t *testing.T, n *node) {
	k := n.kubelet
	before := n.waitRunning(t, "web")
	mark := len(k.Log())
	if err := n.dockerd.Stop(); err != nil && err.Error() != "" {
		t.Logf("dockerd stop: %v", err)
	}
	if err := framework.WaitFor(60*time.Second, func() error {
		// The kubelet stops syncing pods with dockercri's reason in its error.
		if log := k.Log()[mark:]; !strings.Contains(log, "Skipping pod synchronization") || !strings.Contains(log, "DockerDaemonNotReady") {
			return fmt.Errorf("kubelet did not report the runtime not ready")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if err := n.dockerd.Start(); err != nil {
		t.Fatal(err)
	}
	after, err := k.WaitPod("web", 3*time.Minute, func(p *corev1.Pod) error {
		if err := framework.Running(p); err != nil {
			return err
		}
		if fmt.Sprint(framework.ContainerIDs(p)) == fmt.Sprint(framework.ContainerIDs(before)) {
			return fmt.Errorf("still the containers from before dockerd stopped")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := k.Post("/run/default/" + after.Name + "/web?cmd=" + url.QueryEscape("cat /www/index.html")); err != nil || !strings.Contains(string(out), "hello-from-web") {
		t.Errorf("/run after dockerd's restart: %q, %v", out, err)
	}
}

// nodeOverhead: 50 running pods (web and 49 idle ones; the pods that crash-loop, ended
// or print as fast as they can are removed first: they are not quiet), then the CPU
// dockercri and dockerd (with its containerd) spend over 60 quiet seconds of the
// kubelet's polling: with the kubelet's stats from CRI (as the previous scenario left
// it), then with its default, cAdvisor.
func nodeOverhead(t *testing.T, n *node) {
	k := n.kubelet
	others := []string{"crash", "oom", "chatty"} // chatty is gone already after "log rotation"
	for _, name := range others {
		k.RemovePod(t, name)
	}
	const pods = 49
	for i := 0; i < pods; i++ {
		k.AddPod(t, pod(fmt.Sprintf("idle-%02d", i), corev1.RestartPolicyAlways, "idle", "exec sleep 100000"))
	}
	for i := 0; i < pods; i++ {
		n.waitRunning(t, fmt.Sprintf("idle-%02d", i))
	}
	if err := framework.WaitFor(2*time.Minute, func() error {
		for _, name := range n.dockerNames(t) {
			for _, o := range others {
				if strings.Contains(name, "_"+o+"-") {
					return fmt.Errorf("%s still in docker ps -a", name)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second) // let the start-up settle
	n.measureOverhead(t, fmt.Sprintf("kubelet with %d running pods, PodAndContainerStatsFromCRI", pods+1))
	k.Stop()
	delete(k.Config, "featureGates")
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	n.waitRunning(t, "web")
	time.Sleep(10 * time.Second)
	n.measureOverhead(t, fmt.Sprintf("kubelet with %d running pods, default stats (cAdvisor)", pods+1))
}

// measureOverhead logs the CPU dockercri, dockerd, containerd and the kubelet spend
// over a quiet minute, and the CRI calls and Docker requests behind it.
func (n *node) measureOverhead(t *testing.T, what string) {
	type proc struct {
		name string
		pid  int
	}
	procs := []proc{{"dockercri", n.cri.Process().Pid()}, {"dockerd", n.dockerd.Pid()}, {"kubelet", n.kubelet.Pid()}}
	if pid := n.dockerd.ContainerdPid(); pid > 0 {
		procs = append(procs, proc{"containerd", pid})
	}
	// CPU time two ways: run time to the nanosecond (what is compared with the target)
	// and the kernel's tick counts (sampled: these processes wake for a fraction of a
	// tick at a time).
	start, startTicks := make([]time.Duration, len(procs)), make([]time.Duration, len(procs))
	for i, p := range procs {
		start[i], startTicks[i] = framework.RunTimeOf(t, p.pid), framework.CPUOf(t, p.pid)
	}
	before := framework.ScrapeMetrics(t, n.metrics)
	const window = 60 * time.Second
	// DOCKERCRI_PROFILE=file keeps a CPU profile of dockercri over the window.
	profiled := make(chan struct{})
	go func() {
		defer close(profiled)
		if path := os.Getenv("DOCKERCRI_PROFILE"); path != "" {
			if err := framework.CPUProfile(n.metrics, path, window); err != nil {
				t.Errorf("profile: %v", err)
			}
		}
	}()
	time.Sleep(window)
	after := framework.ScrapeMetrics(t, n.metrics)
	<-profiled
	var combined float64
	report := []string{}
	msPerS := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / window.Seconds() }
	for i, p := range procs {
		exact, ticks := msPerS(framework.RunTimeOf(t, p.pid)-start[i]), msPerS(framework.CPUOf(t, p.pid)-startTicks[i])
		if p.name == "dockercri" || p.name == "dockerd" {
			combined += exact
		}
		report = append(report, fmt.Sprintf("%s %.2f ms/s (ticks %.2f)", p.name, exact, ticks))
	}
	t.Logf("node overhead, %s, %s quiet: %s; dockercri+dockerd %.2f ms/s (target 5)", what, window, strings.Join(report, ", "), combined)
	// What the kubelet asked and what dockercri asked Docker over the window, from
	// dockercri's metrics: where the time goes.
	t.Logf("CRI calls in the window: %s", framework.Rates(before, after, "dockercri_cri_request_duration_seconds", "method", 1))
	t.Logf("Docker requests in the window: %s", framework.Rates(before, after, "dockercri_docker_request_duration_seconds", "operation", 1))
}

// manifestsRemoved: with every manifest gone, the kubelet stops and removes the pods
// and nothing is left in Docker nor in the CNI network.
func manifestsRemoved(t *testing.T, n *node) {
	k := n.kubelet
	entries, err := os.ReadDir(k.Manifests)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		k.RemovePod(t, strings.TrimSuffix(e.Name(), ".json"))
	}
	if err := framework.WaitFor(4*time.Minute, func() error {
		if pods, err := k.Pods(); err != nil || len(pods) != 0 {
			return fmt.Errorf("kubelet pods: %d, %v", len(pods), err)
		}
		if names := n.dockerNames(t); len(names) != 0 {
			return fmt.Errorf("left in docker ps -a: %v", names)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ips := n.net.AllocatedIPs(t); len(ips) != 0 {
		t.Errorf("IPs still allocated: %v", ips)
	}
	if rules := framework.IPTablesRules(t, n.net.AddrPrefix()); len(rules) != 0 {
		t.Errorf("iptables rules left for the pod network: %v", rules)
	}
}
