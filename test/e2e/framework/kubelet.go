package framework

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Kubelet is a real kubelet in standalone mode (static pods, no API server) on a
// dockercri, with its API on 127.0.0.1 open to anonymous callers, as the tests ask it
// for pods, logs, exec and port-forward.
type Kubelet struct {
	Dir       string
	Manifests string
	// LogDir is the kubelet's pod log directory (its podLogsDir).
	LogDir     string
	Port       int
	CgroupRoot string
	// Config is the KubeletConfiguration written at Start; tests may change it first.
	Config map[string]any
	Args   []string
	// StartTimeout bounds Start's wait for the kubelet's API (60 s when zero).
	StartTimeout time.Duration
	binary       string
	proc         *Process
	client       *http.Client
}

// NewKubelet prepares a kubelet for the runtime at endpoint, its pods' cgroups under
// cgroupRoot (see MakeCgroup).
func (e *Env) NewKubelet(t testing.TB, binary, endpoint, cgroupRoot string) *Kubelet {
	t.Helper()
	dir := e.TempDir(t, "kubelet")
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	healthz, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	k := &Kubelet{
		Dir:        dir,
		Manifests:  filepath.Join(dir, "manifests"),
		LogDir:     filepath.Join(dir, "pod-logs"),
		Port:       port,
		CgroupRoot: cgroupRoot,
		binary:     binary,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			// The kubelet serves a self-signed certificate of its own making.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		}},
	}
	for _, d := range []string{k.Manifests, k.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	k.Config = map[string]any{
		"apiVersion":                  "kubelet.config.k8s.io/v1beta1",
		"kind":                        "KubeletConfiguration",
		"address":                     "127.0.0.1",
		"port":                        port,
		"readOnlyPort":                0,
		"healthzBindAddress":          "127.0.0.1",
		"healthzPort":                 healthz,
		"staticPodPath":               k.Manifests,
		"fileCheckFrequency":          "1s",
		"syncFrequency":               "10s",
		"authentication":              map[string]any{"anonymous": map[string]any{"enabled": true}, "webhook": map[string]any{"enabled": false}},
		"authorization":               map[string]any{"mode": "AlwaysAllow"},
		"containerRuntimeEndpoint":    endpoint,
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  k.CgroupRoot,
		"failCgroupV1":                false,
		"failSwapOn":                  false,
		"podLogsDir":                  k.LogDir,
		"volumePluginDir":             filepath.Join(dir, "volume-plugins"),
		"enforceNodeAllocatable":      []string{},
		"evictionHard":                map[string]string{"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"containerLogMaxSize":         "1Mi",
		"containerLogMaxFiles":        3,
		"resolvConf":                  "/etc/resolv.conf",
	}
	k.Args = []string{
		"--root-dir", filepath.Join(dir, "root"),
		"--cert-dir", filepath.Join(dir, "pki"),
		"--hostname-override", "dcri-node",
		"--v", "2",
	}
	leftovers := hostLeftovers()
	t.Cleanup(func() {
		k.Stop()
		// The kubelet bind-mounts its root directory onto itself (shared) and leaves it.
		if err := unmountUnder(dir); err != nil {
			t.Error(err)
		}
		leftovers()
		if t.Failed() {
			t.Logf("kubelet log:\n%s", Tail(k.Log(), 80))
		}
	})
	return k
}

// hostLeftovers returns what removes the kubelet's marks on the host outside its
// directories: the device plugin directory under /var/lib/kubelet and the
// /var/log/containers symlinks, whose paths are fixed in the kubelet; what was there
// before is kept.
func hostLeftovers() func() {
	var made []string
	for _, dir := range []string{"/var/lib/kubelet", "/var/log/containers"} {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			made = append(made, dir)
		}
	}
	return func() {
		links, _ := filepath.Glob("/var/log/containers/*" + StaticPodName("") + "_*")
		for _, l := range links {
			_ = os.Remove(l)
		}
		for _, dir := range made {
			_ = os.RemoveAll(dir)
		}
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return nil
}

// Start writes the config and starts the kubelet; it returns once its API answers.
func (k *Kubelet) Start() error {
	cfg, err := json.MarshalIndent(k.Config, "", "  ")
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(k.Dir, "config.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return err
	}
	proc, err := StartProcess("kubelet", filepath.Join(k.Dir, "kubelet.log"), append([]string{k.binary, "--config", cfgPath}, k.Args...)...)
	if err != nil {
		return err
	}
	k.proc = proc
	timeout := k.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	return WaitFor(timeout, func() error {
		if proc.Exited() {
			return fmt.Errorf("kubelet exited: %v\n%s", proc.Wait(0), Tail(proc.Log(), 40))
		}
		_, err := k.Get("/healthz")
		return err
	})
}

// Stop stops the kubelet; the pods stay, as on a node whose kubelet restarts.
func (k *Kubelet) Stop() {
	if k.proc != nil {
		_ = k.proc.Stop(30 * time.Second)
		k.proc = nil
	}
}

// Log is the kubelet's output so far.
func (k *Kubelet) Log() string {
	b, _ := os.ReadFile(filepath.Join(k.Dir, "kubelet.log"))
	return string(b)
}

// URL is the kubelet API's address for path.
func (k *Kubelet) URL(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", k.Port, path)
}

// Get fetches path from the kubelet's API.
func (k *Kubelet) Get(path string) ([]byte, error) { return k.do(http.MethodGet, path) }

// WaitLog waits within timeout until the log of container of pod (namespace default),
// read through the kubelet's API, holds want.
func (k *Kubelet) WaitLog(pod, container, want string, timeout time.Duration) error {
	return WaitFor(timeout, func() error {
		b, err := k.Get("/containerLogs/default/" + pod + "/" + container)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), want) {
			return fmt.Errorf("logs of %s/%s: %q, want %q in them", pod, container, b, want)
		}
		return nil
	})
}

// Post posts to path on the kubelet's API (as /run, the kubelet's one-shot exec, wants).
func (k *Kubelet) Post(path string) ([]byte, error) { return k.do(http.MethodPost, path) }

func (k *Kubelet) do(method, path string) ([]byte, error) {
	req, err := http.NewRequest(method, k.URL(path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// AddPod writes a static pod manifest.
func (k *Kubelet) AddPod(t testing.TB, pod *corev1.Pod) {
	t.Helper()
	pod.APIVersion, pod.Kind = "v1", "Pod"
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	b, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(k.Dir, pod.Name+".json")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Renamed in, so the kubelet never reads half a manifest.
	if err := os.Rename(tmp, filepath.Join(k.Manifests, pod.Name+".json")); err != nil {
		t.Fatal(err)
	}
}

// RemovePod deletes a static pod's manifest.
func (k *Kubelet) RemovePod(t testing.TB, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(k.Manifests, name+".json")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// Pods is the kubelet's /pods: its pods with their status (for static pods, the status
// the kubelet computed).
func (k *Kubelet) Pods() ([]corev1.Pod, error) {
	b, err := k.Get("/pods")
	if err != nil {
		return nil, err
	}
	var list corev1.PodList
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Pod is a static pod by its manifest name (the kubelet appends the node name).
func (k *Kubelet) Pod(name string) (*corev1.Pod, error) {
	pods, err := k.Pods()
	if err != nil {
		return nil, err
	}
	for i := range pods {
		if pods[i].Name == StaticPodName(name) {
			return &pods[i], nil
		}
	}
	return nil, fmt.Errorf("no pod %s among the kubelet's %d", StaticPodName(name), len(pods))
}

// StaticPodName is the name the kubelet gives a static pod: its manifest's, with the
// node's name appended.
func StaticPodName(name string) string { return name + "-dcri-node" }

// WaitPod polls the pod until cond accepts it.
func (k *Kubelet) WaitPod(name string, timeout time.Duration, cond func(*corev1.Pod) error) (*corev1.Pod, error) {
	var last *corev1.Pod
	err := WaitFor(timeout, func() error {
		p, err := k.Pod(name)
		if err != nil {
			return err
		}
		last = p
		return cond(p)
	})
	if err != nil && last != nil {
		b, _ := json.MarshalIndent(last.Status, "", "  ")
		err = fmt.Errorf("%w\nlast status: %s", err, b)
	}
	return last, err
}

// Running accepts a pod in phase Running with an IP and all its containers ready.
func Running(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return fmt.Errorf("pod %s: phase %q, IP %q", p.Name, p.Status.Phase, p.Status.PodIP)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready || cs.State.Running == nil {
			return fmt.Errorf("pod %s: container %s not running and ready: %+v", p.Name, cs.Name, cs.State)
		}
	}
	if len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return fmt.Errorf("pod %s: %d container statuses for %d containers", p.Name, len(p.Status.ContainerStatuses), len(p.Spec.Containers))
	}
	return nil
}

// Pid is the running kubelet's process id.
func (k *Kubelet) Pid() int { return k.proc.Pid() }

// StaticPod is a static pod of image's containers, each running a shell script: scripts
// are pairs of container name and script.
func StaticPod(name, image string, restart corev1.RestartPolicy, scripts ...string) *corev1.Pod {
	p := &corev1.Pod{}
	p.Name = name
	p.Spec.RestartPolicy = restart
	grace := int64(2)
	p.Spec.TerminationGracePeriodSeconds = &grace
	for i := 0; i+1 < len(scripts); i += 2 {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
			Name:            scripts[i],
			Image:           image,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Command:         []string{"sh", "-c", scripts[i+1]},
		})
	}
	return p
}

// WithLimits gives the pod's first container these limits ("memory": "32Mi", "cpu": "500m").
func WithLimits(p *corev1.Pod, limits map[corev1.ResourceName]string) *corev1.Pod {
	l := corev1.ResourceList{}
	for name, q := range limits {
		l[name] = resource.MustParse(q)
	}
	p.Spec.Containers[0].Resources.Limits = l
	return p
}

// PodStats is the pod's entry in the kubelet's /stats/summary once it is complete: CPU,
// memory (and network, if asked) of the pod, CPU and memory of each of its containers
// (containers of them). The kubelet's default stats (cAdvisor's) have no network for
// a pod of a runtime cAdvisor does not know, which dockercri is: with
// PodAndContainerStatsFromCRI it comes from ListPodSandboxStats.
func (k *Kubelet) PodStats(pod string, containers int, network bool) (*statsapi.PodStats, error) {
	b, err := k.Get("/stats/summary")
	if err != nil {
		return nil, err
	}
	var summary statsapi.Summary
	if err := json.Unmarshal(b, &summary); err != nil {
		return nil, err
	}
	for i := range summary.Pods {
		ps := &summary.Pods[i]
		if ps.PodRef.Name != pod {
			continue
		}
		if len(ps.Containers) != containers || (network && ps.Network == nil) || ps.CPU == nil || ps.CPU.UsageNanoCores == nil || ps.Memory == nil || ps.Memory.WorkingSetBytes == nil {
			return nil, fmt.Errorf("pod stats incomplete: %+v", ps)
		}
		for _, cs := range ps.Containers {
			if cs.Memory == nil || cs.Memory.WorkingSetBytes == nil || *cs.Memory.WorkingSetBytes == 0 || cs.CPU == nil || cs.CPU.UsageCoreNanoSeconds == nil {
				return nil, fmt.Errorf("container %s stats incomplete: %+v", cs.Name, cs)
			}
		}
		return ps, nil
	}
	return nil, fmt.Errorf("pod %s not in the summary", pod)
}

// ContainerIDs are the pod's containers' ids and restart counts, as the kubelet reports
// them: what changes when a container is restarted or replaced.
func ContainerIDs(p *corev1.Pod) map[string]string {
	out := map[string]string{}
	for _, cs := range p.Status.ContainerStatuses {
		out[cs.Name] = fmt.Sprintf("%s#%d", cs.ContainerID, cs.RestartCount)
	}
	return out
}
