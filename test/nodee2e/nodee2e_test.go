//go:build nodee2e

package nodee2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// TestNodeConformance runs the NodeConformance specs of the node e2e (those the regular
// expressions of NODE_E2E_FOCUS_FILE, one a line, or NODE_E2E_FOCUS select; default all)
// but those NODE_E2E_SKIP names (the Makefile gives each one's reason), on
// NODE_E2E_PROCS parallel ginkgo processes, and fails for every spec that failed; the
// suite's report goes to NODE_E2E_REPORT. Then it removes what pods are left (an
// interrupted suite leaves some) and checks that they left nothing behind: no IP
// allocated, no CNI cache entry, no iptables rule or chain.
func TestNodeConformance(t *testing.T) {
	dir := env.TempDir(t, "e2e-node")
	// The suite's kubelet makes its cgroups at the root (cgroupRoot /, and /kubelet for
	// itself); those it made go when the test ends, after everything in them.
	for _, cg := range []string{"/kubepods", "/kubelet"} {
		if !framework.CgroupExists(cg) {
			t.Cleanup(func() { framework.RemoveCgroup(t, cg) })
		}
	}
	// The dockerd's root is where a node's is, under /var/lib: the suite's hostPath
	// specs bind /tmp, which Docker refuses to bind private when it holds its root
	// (dockercri then asks rslave, which needs / to be a shared mount, as systemd makes
	// it and this host has not).
	dockerDir, err := os.MkdirTemp("/var/lib", "dcri-e2e-node-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dockerDir) })
	// test-handler is the runtime handler the suite's RuntimeClass specs ask for.
	reg, docker := framework.StartServingDockerd(t, dockerDir, servedNames, "--add-runtime", "test-handler=runc")
	start := time.Now()
	framework.PushSuiteImages(t, docker.Client, reg, &framework.ImageBuilder{Dir: framework.CacheDir(t, "images"), UpstreamBusybox: true}, suiteImages())
	t.Logf("suite images built and pushed in %s", time.Since(start).Round(time.Second))

	net := env.NewCNINetwork(t)
	net.IPMasq = true
	net.Write(t)
	cri := env.NewDockercri(t, append([]string{"--docker-endpoint", docker.Endpoint, "--pod-infra-container-image", "registry.k8s.io/pause:3.10.2"}, net.Args()...)...)
	if err := cri.Start(); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "dockercri.pid")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", cri.Process().Pid())), 0o644); err != nil {
		t.Fatal(err)
	}

	work := filepath.Join(dir, "work")
	binDir := filepath.Join(dir, "k8s-bin")
	for _, d := range []string{work, binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The suite runs the kubelet it finds beside itself.
	suite := filepath.Join(binDir, "e2e_node.test")
	for link, target := range map[string]string{suite: os.Getenv("E2E_NODE_BIN"), filepath.Join(binDir, "kubelet"): os.Getenv("KUBELET_BIN")} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	kubeletConfig := filepath.Join(dir, "kubelet-base.yaml")
	if err := os.WriteFile(kubeletConfig, []byte(baseKubeletConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	report := orDefault(os.Getenv("NODE_E2E_REPORT"), filepath.Join(dir, "report"))
	procs := orDefault(os.Getenv("NODE_E2E_PROCS"), "4")
	args := []string{
		"--procs=" + procs, "--no-color", "--timeout=" + orDefault(os.Getenv("NODE_E2E_TIMEOUT"), "100m"),
		"--label-filter=NodeConformance", "--junit-report=" + filepath.Join(report, "junit.xml"),
	}
	for _, focus := range focuses(t) {
		args = append(args, "--focus="+focus)
	}
	skips := hostSkips(t)
	if skip := os.Getenv("NODE_E2E_SKIP"); skip != "" {
		skips = append(skips, skip)
	}
	if len(skips) > 0 {
		args = append(args, "--skip="+strings.Join(skips, "|"))
	}
	args = append(args, suite, "--",
		"--container-runtime-endpoint="+cri.Endpoint,
		"--container-runtime-process-name=dockercri",
		"--container-runtime-pid-file="+pidFile,
		"--kubelet-config-file="+kubeletConfig,
		// The suite moves every process of the root cgroup into /system unless told
		// otherwise: this node's other processes stay where they are.
		"--kubelet-flags=--system-cgroups= --runtime-cgroups=",
		"--prepull-images=false",
		// The kubelet's cAdvisor knows no Docker containers (it has handlers for
		// containerd's and CRI-O's only): a dockercri node serves container stats and
		// /metrics/cadvisor from the CRI (see the README).
		"--feature-gates=PodAndContainerStatsFromCRI=true",
		"--node-name=dcri-e2e-node",
		"--report-dir="+report,
	)
	cmd := exec.Command(os.Getenv("GINKGO_BIN"), args...)
	// The suite writes its kubelet's config, kubeconfig and static pod directory into
	// its working directory.
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+withoutSystemdRun(t, dir))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start = time.Now()
	err = cmd.Run()
	t.Logf("node e2e ran in %s on %d CPUs", time.Since(start).Round(time.Second), runtime.NumCPU())
	cases, rerr := framework.ReadJUnit(filepath.Join(report, "junit.xml"))
	if rerr != nil {
		t.Errorf("the suite's report: %v", rerr)
	}
	counts := map[string]int{}
	for _, c := range cases {
		counts[c.Outcome]++
		if c.Outcome == "failed" {
			t.Errorf("failed: %s\n%s", c.Name, c.Message)
		}
	}
	t.Logf("specs: %d passed, %d failed, %d skipped", counts["passed"], counts["failed"], counts["skipped"])
	if err != nil && counts["failed"] == 0 {
		t.Errorf("ginkgo %s: %v\ndockercri log (tail):\n%s", strings.Join(args, " "), err, framework.Tail(cri.Log(), 40))
	}

	// What the kubelet did not remove, as it would once back: a suite cut short leaves
	// pods running.
	rt := cri.Runtime(t)
	sandboxes, err := rt.ListPodSandbox(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sandboxes) > 0 {
		t.Logf("removing the %d sandboxes the suite left", len(sandboxes))
	}
	for _, sb := range sandboxes {
		if err := rt.StopPodSandbox(context.Background(), sb.Id); err != nil {
			t.Errorf("stop sandbox %s: %v", sb.Id, err)
		}
		if err := rt.RemovePodSandbox(context.Background(), sb.Id); err != nil {
			t.Errorf("remove sandbox %s: %v", sb.Id, err)
		}
	}

	if ips := net.AllocatedIPs(t); len(ips) > 0 {
		t.Errorf("IPs still allocated after the suite: %v", ips)
	}
	if entries, _ := os.ReadDir(filepath.Join(net.CacheDir, "results")); len(entries) > 0 {
		t.Errorf("CNI cache entries left after the suite: %d", len(entries))
	}
	if rules := framework.IPTablesRules(t, net.AddrPrefix()); len(rules) > 0 {
		t.Errorf("iptables rules of the suite's pods left:\n%s", strings.Join(rules, "\n"))
	}
}

// focuses are the regular expressions of NODE_E2E_FOCUS_FILE (a line each, # starts a
// comment) or NODE_E2E_FOCUS.
func focuses(t *testing.T) []string {
	file := os.Getenv("NODE_E2E_FOCUS_FILE")
	if file == "" {
		if f := os.Getenv("NODE_E2E_FOCUS"); f != "" {
			return []string{f}
		}
		return nil
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(env.Root, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// hostSkips are the specs this host cannot pass whatever the runtime, each found by a
// probe of its own, with the reason printed.
func hostSkips(t *testing.T) []string {
	var skips []string
	// PrivilegedPod adds a dummy link in a privileged container: the kernel must have
	// the dummy driver (CONFIG_DUMMY).
	ns := "dcri-probe-" + strings.ReplaceAll(t.Name(), "/", "-")
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "add", "probe0", "type", "dummy").CombinedOutput()
	_ = exec.Command("ip", "netns", "del", ns).Run()
	if err != nil {
		const spec = `PrivilegedPod should enable privileged commands`
		t.Logf("skipped: %s: this kernel has no dummy link driver (ip link add type dummy: %s)", spec, strings.TrimSpace(string(out)))
		skips = append(skips, spec)
	}
	// The Summary API spec wants pressure (PSI) figures in every container's stats
	// (KubeletPSI is GA and locked on) and, on a node without systemd, the stats of a
	// `misc` system container: cgroup v1 has no per-cgroup PSI, and only
	// --system-cgroups, which moves every process of the host into it, makes that
	// container. Neither is the runtime's to give.
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		const spec = `Summary API when querying /stats/summary should report resource usage through the stats api`
		t.Logf("skipped: %s: this host is on cgroup v1, without PSI (no /sys/fs/cgroup/cgroup.controllers)", spec)
		skips = append(skips, spec)
	}
	return skips
}

// baseKubeletConfig is the node e2e's own default kubelet configuration
// (test/e2e_node/jenkins/default-kubelet-config.yaml), for this node: cgroup v1 allowed,
// swap allowed, and eviction thresholds a shared CI disk does not reach.
const baseKubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /
failCgroupV1: false
failSwapOn: false
podCIDR: "10.100.0.0/24"
volumeStatsAggPeriod: 10s
fileCheckFrequency: 10s
evictionPressureTransitionPeriod: 30s
evictionHard:
  memory.available: 250Mi
  nodefs.available: 2%
  nodefs.inodesFree: 2%
  imagefs.available: 2%
evictionMinimumReclaim:
  nodefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
`

// withoutSystemdRun is the PATH the suite runs with: this one, with the directories that
// hold systemd-run replaced by copies of them (symbolic links) without it. The suite
// starts its kubelet as a systemd unit when it finds systemd-run, and this host has the
// program while systemd does not run it.
func withoutSystemdRun(t *testing.T, dir string) string {
	t.Helper()
	var path []string
	for i, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "systemd-run")); err != nil {
			path = append(path, d)
			continue
		}
		shadow := filepath.Join(dir, fmt.Sprintf("path-%d", i))
		if err := os.MkdirAll(shadow, 0o755); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() == "systemd-run" {
				continue
			}
			if err := os.Symlink(filepath.Join(d, e.Name()), filepath.Join(shadow, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
		path = append(path, shadow)
	}
	return strings.Join(path, string(filepath.ListSeparator))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
