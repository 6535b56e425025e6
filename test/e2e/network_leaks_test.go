//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// podCount is how many pods the leak test starts and removes.
const podCount = 50

// 50 pods with hostPorts started and removed leave no IP allocation, veth, iptables
// rule, network namespace or cached CNI result behind, also when their pause
// containers died behind dockercri's back (some while it was down, killed with -9).
// The bridge masquerades, as on most nodes: it finds a pod's masquerading chain by the
// pod's interface in its namespace, which must outlive the pause process.
func TestNetworkNoLeaks(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	n.IPMasq = true
	d, rt := startOnNetwork(t, n)
	basePort := mustFreePort(t)

	ids := make([]string, 0, podCount)
	var ips, uids []string // as iptables-save writes them
	var pauses []pauseProcess
	for i := range podCount {
		cfg := env.SandboxConfig(t, fmt.Sprintf("leak%d", i))
		cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: int32(basePort + i%5)}}
		if i%5 != 0 {
			cfg.PortMappings = nil
		}
		id, err := rt.RunPodSandbox(ctx(t), cfg, "")
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		ids, uids = append(ids, id), append(uids, cfg.Metadata.Uid)
		ips = append(ips, podIP(t, rt, id)+" ", podIP(t, rt, id)+"/")
		insp, err := env.Docker.Client.ContainerInspect(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		pauses = append(pauses, pauseOf(t, insp.State.Pid))
	}
	if got := len(n.AllocatedIPs(t)); got != podCount {
		t.Fatalf("%d IPs allocated for %d pods", got, podCount)
	}
	if got := len(n.BridgePorts(t)); got != podCount {
		t.Fatalf("%d veths on the bridge for %d pods", got, podCount)
	}
	if rules := framework.IPTablesRules(t, ids[0]); len(rules) == 0 {
		t.Fatal("no iptables rule names the first pod's id: the leak check below could not see a leak")
	}

	// Pause containers die: some while dockercri runs, some while it is down.
	kill := func(id string) {
		if err := env.Docker.Client.ContainerKill(ctx(t), id, "KILL"); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[:5] {
		kill(id)
	}
	d.Process().Kill()
	for _, id := range ids[5:10] {
		kill(id)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	rt = d.Runtime(t)

	for i, id := range ids {
		// Half are stopped first (and twice: DEL is idempotent); the rest removed only.
		if i%2 == 0 {
			for range 2 {
				if err := rt.StopPodSandbox(ctx(t), id); err != nil {
					t.Fatalf("stop pod %d: %v", i, err)
				}
			}
		}
		if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
			t.Fatalf("remove pod %d: %v", i, err)
		}
	}

	checkNothingLeft(t, n, d, leftovers{sandboxes: ids, uids: uids, words: ips, pauses: pauses})
}

// leftovers names what a test's pods were, for checkNothingLeft.
type leftovers struct {
	// sandboxes and uids are the pods' sandbox ids and pod UIDs.
	sandboxes, uids []string
	// words are more words no iptables rule may hold (the pods' IPs, say).
	words []string
	// pauses are the pods' pause processes.
	pauses []pauseProcess
	// docker is the Docker Engine of the pods, when not the suite's.
	docker *framework.Dockerd
}

// pauseProcess is a pod's pause process and the network namespace it held when the
// pod ran.
type pauseProcess struct {
	pid   int
	netns string
}

// pauseOf reads the network namespace of a running pod's pause process pid.
func pauseOf(t *testing.T, pid int) pauseProcess {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatalf("pause process %d: %v", pid, err)
	}
	if host, _ := os.Readlink("/proc/self/ns/net"); link == host {
		t.Fatalf("pause process %d is in the host's network namespace", pid)
	}
	return pauseProcess{pid: pid, netns: link}
}

// checkNothingLeft fails the test if the pods of network n, all removed, left anything
// behind: a container in Docker, an IP allocation, a veth, an iptables rule, a network
// namespace, a cached CNI result, or a checkpoint or temporary file of d's.
func checkNothingLeft(t *testing.T, n *framework.CNINetwork, d *framework.Dockercri, l leftovers) {
	t.Helper()
	if ips := n.AllocatedIPs(t); len(ips) != 0 {
		t.Errorf("IP allocations left: %v", ips)
	}
	if ports := n.BridgePorts(t); len(ports) != 0 {
		t.Errorf("veths left on the bridge: %v", ports)
	}
	// Every address of the network's subnet, as iptables-save writes one.
	subnet := strings.TrimSuffix(n.Subnet, "0/24")
	words := append(append(append([]string{n.Name, " " + subnet, "/" + subnet}, l.sandboxes...), l.uids...), l.words...)
	if rules := framework.IPTablesRules(t, words...); len(rules) != 0 {
		t.Errorf("iptables rules left: %q", rules)
	}
	for _, p := range l.pauses {
		// The pid of a pause process that is gone may be any other process's by now
		// (on a busy machine it is soon reused): only the pod's own namespace is a leak.
		if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.pid)); link == p.netns {
			t.Errorf("pause process %d still holds the pod's network namespace %s", p.pid, link)
		}
	}
	if cached, _ := filepath.Glob(filepath.Join(n.CacheDir, "*", "*")); len(cached) != 0 {
		t.Errorf("CNI cache entries left: %v", cached)
	}
	// The sandboxes' checkpoints, the plugins' results of ADDs not yet whole and the
	// pins of the pods' network namespaces.
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err != nil || strings.Contains(string(mounts), filepath.Join(d.Dir, "state", "netns")) {
		t.Errorf("network namespaces left pinned (%v)", err)
	}
	for _, dir := range []string{"sandbox", "cni", "netns"} {
		if files, _ := filepath.Glob(filepath.Join(d.Dir, "state", dir, "*")); len(files) != 0 {
			t.Errorf("state left: %v", files)
		}
		if files, _ := filepath.Glob(filepath.Join(d.Dir, "state", dir, ".*")); len(files) != 0 {
			t.Errorf("temporary files left: %v", files)
		}
	}
	docker := env.Docker
	if l.docker != nil {
		docker = l.docker
	}
	list, err := docker.Client.ContainerList(context.Background(), container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if slices.Contains(l.sandboxes, c.ID) || slices.Contains(l.sandboxes, c.Labels["io.kubernetes.sandbox.id"]) || slices.Contains(l.uids, c.Labels["io.kubernetes.pod.uid"]) {
			t.Errorf("container %s %v left in Docker", c.ID[:12], c.Names)
		}
	}
}

// A failed CNI ADD (the network's one address is taken) fails RunPodSandbox and
// leaves nothing behind: no container, IP allocation, veth or iptables rule.
func TestFailedAddLeavesNothing(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	n.RangeStart, n.End = gatewayPlus(n.Gateway, 1), gatewayPlus(n.Gateway, 1)
	_, rt := startOnNetwork(t, n)
	runPod(t, rt, env.SandboxConfig(t, "first"))
	cfg := env.SandboxConfig(t, "second")
	hostPort := mustFreePort(t)
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: int32(hostPort)}}
	if _, err := rt.RunPodSandbox(ctx(t), cfg, ""); err == nil {
		t.Fatal("RunPodSandbox succeeded with the network's only address taken")
	}
	if ips := n.AllocatedIPs(t); len(ips) != 1 {
		t.Errorf("allocations %v, want the first pod's only", ips)
	}
	if ports := n.BridgePorts(t); len(ports) != 1 {
		t.Errorf("veths %v, want the first pod's only", ports)
	}
	list, err := env.Docker.Client.ContainerList(context.Background(), container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Labels["io.kubernetes.pod.uid"] == cfg.Metadata.Uid {
			t.Errorf("the failed pod left container %v", c.Names)
		}
	}
	if rules := framework.IPTablesRules(t, fmt.Sprintf("--dport %d ", hostPort)); len(rules) != 0 {
		t.Errorf("the failed pod's hostPort rules are left: %q", rules)
	}
}

// gatewayPlus is the address k after a /24 network's gateway (x.y.z.1).
func gatewayPlus(gw string, k int) string {
	var a, b, c, last int
	fmt.Sscanf(gw, "%d.%d.%d.%d", &a, &b, &c, &last)
	return fmt.Sprintf("%d.%d.%d.%d", a, b, c, last+k)
}
