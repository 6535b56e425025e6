//go:build vm

package vm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/transport/spdy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/pause"
	"github.com/dockercri/dockercri/test/e2e/framework"
)

// oldRuntime is the CRI server a node moves from to dockercri: how the test starts it
// on the node's Docker and CNI network, and where the kubelet reaches it. cri-dockerd is
// one; dockershim (a kubelet of Kubernetes 1.23, its own CRI server) would be another.
type oldRuntime struct {
	name string
	// endpoint is the CRI socket the kubelet is given while the old server runs.
	endpoint string
	// start starts the old server and returns what stops it (as its unit's stop does).
	start func(t *testing.T) (stop func())
	// checkpoints is the old server's directory of sandbox checkpoints.
	checkpoints string
}

// criDockerd is cri-dockerd v0.4.3, unmodified (make cri-dockerd builds it from the Go
// module proxy), on the node's Docker with the node's CNI network and CNI cache, as its
// packaged unit runs it, and a pause image of its own imported here (the VM has no
// registry): its sandboxes are its own pause containers, never dockercri's.
func criDockerd() oldRuntime {
	const sock = "/run/cri-dockerd.sock"
	return oldRuntime{
		name:        "cri-dockerd",
		endpoint:    "unix://" + sock,
		checkpoints: "/var/lib/cri-dockerd/sandbox",
		start: func(t *testing.T) func() {
			t.Helper()
			root, err := pause.RootFS(goarch)
			if err != nil {
				t.Fatal(err)
			}
			image := "dcri-vm/cri-dockerd-pause:1"
			if _, err := framework.ImportImage(ctx(t), docker, root, image, pause.Cmd); err != nil {
				t.Fatal(err)
			}
			proc, err := framework.StartProcess("cri-dockerd", filepath.Join(env.TempDir(t, "cri-dockerd"), "cri-dockerd.log"),
				filepath.Join(dir, "cri-dockerd"),
				"--container-runtime-endpoint", "unix://"+sock,
				"--network-plugin", "cni",
				"--cni-bin-dir", framework.CNIBinDir,
				"--cni-conf-dir", "/etc/cni/net.d",
				"--cni-cache-dir", "/var/lib/cni/cache",
				"--pod-infra-container-image", image,
				"--log-level", "info")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("cri-dockerd log:\n%s", framework.Tail(proc.Log(), 60))
				}
			})
			if err := framework.WaitFor(slow, func() error {
				if proc.Exited() {
					return fmt.Errorf("cri-dockerd exited: %v\n%s", proc.Wait(0), framework.Tail(proc.Log(), 40))
				}
				return versionOn("unix://" + sock)
			}); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := proc.Stop(time.Minute); err != nil {
					t.Errorf("stop cri-dockerd: %v", err)
				}
			}
		},
	}
}

// versionOn asks the CRI server at endpoint for its version, on a connection of its own.
func versionOn(endpoint string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = runtimeapi.NewRuntimeServiceClient(conn).Version(c, &runtimeapi.VersionRequest{})
	return err
}

// goarch is the VM's architecture, which the pause program is built for.
const goarch = "amd64"

// The migration's pods: web serves on a hostPort beside a chatty container and one that
// has exited (exit 0 under OnFailure: never restarted); once has run to completion, its
// sandbox stopped by the old server.
const (
	hostPort   = 30080
	chattyLine = "chatty %d"
)

func migrationPods(image string) []*corev1.Pod {
	web := framework.StaticPod("mig-web", image, corev1.RestartPolicyOnFailure,
		"web", webScript,
		"chatty", `i=0; while :; do echo "chatty $i"; i=$((i+1)); sleep 1; done`,
		"done", `echo done-before-the-move; exit 0`)
	web.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: hostPort, Protocol: corev1.ProtocolTCP}}
	once := framework.StaticPod("mig-once", image, corev1.RestartPolicyNever, "once", `echo once-ran; exit 0`)
	return []*corev1.Pod{web, once}
}

// webUp accepts the web pod with web and chatty running and done exited 0.
func webUp(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return fmt.Errorf("pod %s: phase %q, IP %q", p.Name, p.Status.Phase, p.Status.PodIP)
	}
	if len(p.Status.ContainerStatuses) != 3 {
		return fmt.Errorf("pod %s: %d container statuses", p.Name, len(p.Status.ContainerStatuses))
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.Name == "done":
			if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
				return fmt.Errorf("container done not exited 0: %+v", cs.State)
			}
		case cs.State.Running == nil || !cs.Ready:
			return fmt.Errorf("container %s not running and ready: %+v", cs.Name, cs.State)
		}
	}
	return nil
}

// onceDone accepts the once pod when it has succeeded.
func onceDone(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodSucceeded {
		return fmt.Errorf("pod %s: phase %q", p.Name, p.Status.Phase)
	}
	return nil
}

// TestMigration moves a node from an old CRI server to the packaged dockercri as the
// README says (stop the old server, start dockercri, restart the kubelet on dockercri's
// socket) with the pods running, and checks that nothing of theirs changed; then the
// pods are removed and nothing of them is left. It runs before TestNode and leaves the
// node as it found it: the package purged.
func TestMigration(t *testing.T) {
	for _, old := range []oldRuntime{criDockerd()} {
		t.Run(old.name, func(t *testing.T) { migrate(t, old) })
	}
}

func migrate(t *testing.T, old oldRuntime) {
	n := env.NewCNINetwork(t)
	conf := "/etc/cni/net.d/10-dcri-vm.conflist"
	if err := os.WriteFile(conf, []byte(n.Conflist()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(conf) })
	// The package is installed first, as a user would before the move: its socket
	// listens, nothing calls it, so dockercri does not run yet.
	run(t, "dpkg", "-i", filepath.Join(dir, "dockercri.deb"))
	t.Cleanup(func() { run(t, "dpkg", "--purge", "dockercri") })
	if u := show(t, "dockercri.service"); u.ActiveState != "inactive" {
		t.Fatalf("dockercri.service after install: %+v, want inactive", u)
	}

	stopOld := old.start(t)
	oldCRI := &framework.Dockercri{Socket: strings.TrimPrefix(old.endpoint, "unix://"), Endpoint: old.endpoint}
	k := newKubelet(t)
	k.Config["containerRuntimeEndpoint"] = old.endpoint
	for _, p := range migrationPods(busybox) {
		k.AddPod(t, p)
	}
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	web, err := k.WaitPod("mig-web", 2*slow, webUp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.WaitPod("mig-once", 2*slow, onceDone); err != nil {
		t.Fatal(err)
	}
	if err := k.WaitLog(web.Name, "chatty", fmt.Sprintf(chattyLine, 3), slow); err != nil {
		t.Fatal(err)
	}
	// The once pod's sandbox is stopped by the kubelet once the pod has succeeded.
	if err := framework.WaitFor(slow, func() error {
		for _, c := range dockerContainers(t) {
			if c.pod == framework.StaticPodName("mig-once") && c.sandbox && c.running {
				return fmt.Errorf("the once pod's sandbox %s still runs", c.id)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	before := dockerContainers(t)
	webSandbox := sandboxOf(t, before, web.Name)
	oldIP := sandboxIP(t, oldCRI, webSandbox)
	if oldIP != web.Status.PodIP {
		t.Fatalf("%s says the web pod's IP is %q, the kubelet %q", old.name, oldIP, web.Status.PodIP)
	}
	webIDs := framework.ContainerIDs(web)
	checkHostPort(t, n)
	logsBefore, err := k.Get("/containerLogs/default/" + web.Name + "/chatty")
	if err != nil {
		t.Fatal(err)
	}
	doneBefore, err := k.Get("/containerLogs/default/" + web.Name + "/done")
	if err != nil || !strings.Contains(string(doneBefore), "done-before-the-move") {
		t.Fatalf("logs of done before the move: %q, %v", doneBefore, err)
	}
	lastTick := lastChatty(t, logsBefore)
	t.Logf("before the move: %d containers, web pod %s at %s, chatty at line %d", len(before), webSandbox[:12], oldIP, lastTick)

	// The move, as the README says.
	stopOld()
	run(t, "systemctl", "start", "dockercri")
	k.Stop()
	k.Config["containerRuntimeEndpoint"] = endpoint
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}

	web, err = k.WaitPod("mig-web", 2*slow, webUp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.WaitPod("mig-once", 2*slow, onceDone); err != nil {
		t.Fatal(err)
	}
	// Syncs in which the kubelet could have restarted a container or recreated a sandbox:
	// three of each pod's, counted by the kubelet.
	if err := framework.WaitFor(2*slow, func() error {
		if n := podSyncs(k); n < 6 {
			return fmt.Errorf("the kubelet has synced the pods %d times since its restart, want 6", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	after := dockerContainers(t)
	if fmt.Sprint(ids(after)) != fmt.Sprint(ids(before)) {
		t.Errorf("Docker's containers after the move:\n%v\nbefore:\n%v", describe(after), describe(before))
	}
	for _, b := range before {
		a, ok := find(after, b.id)
		if !ok {
			continue
		}
		if a.startedAt != b.startedAt || a.pid != b.pid || a.finishedAt != b.finishedAt || a.running != b.running {
			t.Errorf("container %s changed in the move: %+v, before %+v", b.name, a, b)
		}
	}
	if got := framework.ContainerIDs(web); fmt.Sprint(got) != fmt.Sprint(webIDs) {
		t.Errorf("the kubelet's web containers after the move %v, before %v", got, webIDs)
	}
	if web.Status.PodIP != oldIP {
		t.Errorf("the kubelet's web pod IP after the move %q, before %q", web.Status.PodIP, oldIP)
	}
	if ip := sandboxIP(t, cri, webSandbox); ip != oldIP {
		t.Errorf("dockercri's PodSandboxStatus IP of the web pod %q, %s's %q", ip, old.name, oldIP)
	}
	checkHostPort(t, n)
	// The chatty container's log through the kubelet: its lines from before the move,
	// and new ones.
	if err := framework.WaitFor(slow, func() error {
		b, err := k.Get("/containerLogs/default/" + web.Name + "/chatty")
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(b, logsBefore) {
			return fmt.Errorf("chatty's log after the move does not start with its %d bytes from before: %.300q", len(logsBefore), b)
		}
		if last := lastChatty(t, b); last <= lastTick+2 {
			return fmt.Errorf("chatty's log after the move ends at line %d, before at %d", last, lastTick)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if b, err := k.Get("/containerLogs/default/" + web.Name + "/done"); err != nil || !bytes.Equal(b, doneBefore) {
		t.Errorf("logs of done after the move: %q, %v; before %q", b, err, doneBefore)
	}
	// Docker's json-files: dockercri never wrote to them. What was there is still there
	// (an exited container's file unchanged), and every line is Docker's.
	for _, b := range before {
		checkDockerLog(t, b)
	}
	if out, err := k.Post("/run/default/" + web.Name + "/web?cmd=" + url.QueryEscape("cat /www/index.html")); err != nil || strings.TrimSpace(string(out)) != "hello-from-web" {
		t.Errorf("exec (/run) after the move: %q, %v", out, err)
	}
	local := portForward(t, k.URL("/portForward/default/"+web.Name), 8080)
	if body := httpBody(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", local)); strings.TrimSpace(body) != "hello-from-web" {
		t.Errorf("port-forward after the move: %q", body)
	}
	if t.Failed() {
		t.Logf("dockercri's journal:\n%s", run(t, "journalctl", "--no-pager", "-u", "dockercri.service"))
		t.FailNow()
	}

	// The pods removed: every one goes, and nothing of them is left.
	for _, p := range migrationPods(busybox) {
		k.RemovePod(t, p.Name)
	}
	if err := framework.WaitFor(2*slow, func() error {
		if pods, err := k.Pods(); err != nil || len(pods) != 0 {
			return fmt.Errorf("kubelet pods: %d, %v", len(pods), err)
		}
		if left := dockerContainers(t); len(left) != 0 {
			return fmt.Errorf("left in Docker: %v", describe(left))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The sweep of pods whose CNI DEL failed runs every minute: wait for what it would
	// remove, then check that nothing is left.
	if err := framework.WaitFor(slow, func() error { return leftovers(t, n, old) }); err != nil {
		t.Error(err)
	}
	if t.Failed() {
		t.Logf("dockercri's journal:\n%s", run(t, "journalctl", "--no-pager", "-u", "dockercri.service"))
	}
	k.Stop()
}

// leftovers is nil when nothing of the removed pods is left: IPs of host-local, iptables
// rules of the pod network and its hostPort (CNI-DN-* chains), veths, CNI cache results
// (also of cri-dockerd's cni-loopback network), dockercri's checkpoints and the old
// server's (dockercri removes those of the pods it removes: a move back would list them).
func leftovers(t *testing.T, n *framework.CNINetwork, old oldRuntime) error {
	var left []string
	if ips := n.AllocatedIPs(t); len(ips) != 0 {
		left = append(left, fmt.Sprintf("IPs allocated: %v", ips))
	}
	if rules := framework.IPTablesRules(t, n.AddrPrefix(), "CNI-DN-", "--dport "+strconv.Itoa(hostPort)); len(rules) != 0 {
		left = append(left, fmt.Sprintf("iptables rules: %v", rules))
	}
	if ports := n.BridgePorts(t); len(ports) != 0 {
		left = append(left, fmt.Sprintf("veths on %s: %v", n.Bridge, ports))
	}
	for _, d := range []string{"/var/lib/cni/cache/results", "/var/lib/dockercri/sandbox", old.checkpoints} {
		if names := dirNames(t, d); len(names) != 0 {
			left = append(left, fmt.Sprintf("%s: %v", d, names))
		}
	}
	if len(left) != 0 {
		return fmt.Errorf("left after the pods went: %s", strings.Join(left, "; "))
	}
	return nil
}

func dirNames(t *testing.T, d string) []string {
	entries, err := os.ReadDir(d)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// podSyncs is how many pod syncs the kubelet has done since it started, from its metrics.
func podSyncs(k *framework.Kubelet) int {
	b, err := k.Get("/metrics")
	if err != nil {
		return 0
	}
	total := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, `kubelet_pod_worker_duration_seconds_count{operation_type="sync"}`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += int(v)
		}
	}
	return total
}

// checkHostPort: the web pod answers on its hostPort at the node's address on the pod
// network (the VM has no other), through portmap's DNAT.
func checkHostPort(t *testing.T, n *framework.CNINetwork) {
	t.Helper()
	if err := framework.WaitFor(slow, func() error {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://%s:%d/index.html", n.Gateway, hostPort))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.TrimSpace(string(b)) != "hello-from-web" {
			return fmt.Errorf("hostPort %d: %q", hostPort, b)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// lastChatty is the number of the chatty container's last line in a log.
func lastChatty(t *testing.T, log []byte) int {
	last := -1
	for _, line := range strings.Split(string(log), "\n") {
		var i int
		if _, err := fmt.Sscanf(line, chattyLine, &i); err == nil {
			last = i
		}
	}
	return last
}

// dockerContainer is what the move must not change of a container of Docker's.
type dockerContainer struct {
	id, name, pod         string
	sandbox, running      bool
	startedAt, finishedAt string
	pid                   int
	logPath               string
	logSize               int64
	logMtime              time.Time
	logSum                [32]byte
}

// dockerContainers are the node's Kubernetes containers (sandboxes too), by id.
func dockerContainers(t *testing.T) []dockerContainer {
	t.Helper()
	list, err := docker.ContainerList(ctx(t), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.kubernetes.pod.name"))})
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerContainer
	for _, c := range list {
		insp, err := docker.ContainerInspect(ctx(t), c.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed since the list
		} else if err != nil {
			t.Fatal(err)
		}
		d := dockerContainer{id: c.ID, name: strings.TrimPrefix(insp.Name, "/"), pod: c.Labels["io.kubernetes.pod.name"],
			sandbox: c.Labels["io.kubernetes.docker.type"] == "podsandbox", running: insp.State.Running,
			startedAt: insp.State.StartedAt, finishedAt: insp.State.FinishedAt, pid: insp.State.Pid, logPath: insp.LogPath}
		if b, err := os.ReadFile(d.logPath); err == nil {
			d.logSize, d.logSum = int64(len(b)), sha256.Sum256(b)
			if fi, err := os.Stat(d.logPath); err == nil {
				d.logMtime = fi.ModTime()
			}
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b dockerContainer) int { return strings.Compare(a.id, b.id) })
	return out
}

func ids(cs []dockerContainer) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.id)
	}
	return out
}

func describe(cs []dockerContainer) string {
	var lines []string
	for _, c := range cs {
		lines = append(lines, fmt.Sprintf("  %s %s running=%t", c.id[:12], c.name, c.running))
	}
	return strings.Join(lines, "\n")
}

func find(cs []dockerContainer, id string) (dockerContainer, bool) {
	for _, c := range cs {
		if c.id == id {
			return c, true
		}
	}
	return dockerContainer{}, false
}

func sandboxOf(t *testing.T, cs []dockerContainer, pod string) string {
	t.Helper()
	for _, c := range cs {
		if c.sandbox && c.pod == pod {
			return c.id
		}
	}
	t.Fatalf("no sandbox of pod %s in Docker", pod)
	return ""
}

// sandboxIP is the IP a CRI server's PodSandboxStatus gives a sandbox.
func sandboxIP(t *testing.T, d *framework.Dockercri, id string) string {
	t.Helper()
	st, err := d.Runtime(t).PodSandboxStatus(ctx(t), id, false)
	if err != nil {
		t.Fatalf("PodSandboxStatus %s on %s: %v", id, d.Endpoint, err)
	}
	if st.GetStatus().GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("sandbox %s on %s: %v", id, d.Endpoint, st.GetStatus().GetState())
	}
	return st.GetStatus().GetNetwork().GetIp()
}

// checkDockerLog: the container's json-file still begins with what it held before the
// move (an exited container's is unchanged), and every line of it is one of Docker's
// JSON log entries, which dockercri appending to it would break.
func checkDockerLog(t *testing.T, b dockerContainer) {
	t.Helper()
	if b.logPath == "" || b.logSize == 0 {
		return
	}
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		t.Errorf("Docker's log of %s: %v", b.name, err)
		return
	}
	if int64(len(data)) < b.logSize || sha256.Sum256(data[:b.logSize]) != b.logSum {
		t.Errorf("Docker's log of %s (%s) no longer begins with its %d bytes from before the move", b.name, b.logPath, b.logSize)
	}
	if !b.running {
		fi, err := os.Stat(b.logPath)
		if err != nil || int64(len(data)) != b.logSize || !fi.ModTime().Equal(b.logMtime) {
			t.Errorf("Docker's log of exited %s changed: %d bytes (before %d), mtime %v (before %v), %v", b.name, len(data), b.logSize, fi.ModTime(), b.logMtime, err)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for i := 1; sc.Scan(); i++ {
		var entry struct {
			Log, Stream, Time string
		}
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil || entry.Stream == "" || entry.Time == "" {
			t.Errorf("Docker's log of %s, line %d is not Docker's: %q (%v)", b.name, i, sc.Text(), err)
			return
		}
	}
}

// portForward starts kubectl's port-forward client (SPDY) on the kubelet's URL for the
// pod and returns the local port.
func portForward(t *testing.T, rawURL string, port int) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(&restclient.Config{TLSClientConfig: restclient.TLSClientConfig{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	local, _ := framework.StartPortForward(t, dialer, port)
	return local
}

func httpBody(t *testing.T, u string) string {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
