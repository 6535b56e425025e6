//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// podSandboxes are the ids of the sandboxes dockercri lists for pod uid.
func podSandboxes(t *testing.T, rt internalapi.RuntimeService, uid string) []string {
	t.Helper()
	sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": uid}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, sb := range sbs {
		ids = append(ids, sb.Id)
	}
	return ids
}

// checkpointOf is the path of a sandbox's checkpoint in d's state.
func checkpointOf(d *framework.Dockercri, id string) string {
	return filepath.Join(d.Dir, "state", "sandbox", id)
}

// A CNI ADD fails and so does its undo, a plugin of the chain failing its DEL: the
// plugins before it still hold the pod's address and rules. The sandbox is not
// forgotten: its checkpoint stays, and once the plugin's DEL works again the sweep
// frees it all. A pod whose pause container was removed behind dockercri's back is
// swept too. Stop and Remove of a pod whose DEL fails fail, and succeed later.
func TestFailedDelIsRetried(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	plugin := n.AddTestPlugin(t, "loopback")
	n.Write(t)
	d := env.StartDockercri(t, append(n.Args(), "--network-sweep-interval", "200ms")...)
	rt := d.Runtime(t)
	var l leftovers

	// The ADD fails at the last plugin, and the undo at its first step.
	plugin.Fail(t, "ADD", true)
	plugin.Fail(t, "DEL", true)
	cfg := env.SandboxConfig(t, "undo")
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: int32(mustFreePort(t))}}
	l.uids = append(l.uids, cfg.Metadata.Uid)
	if _, err := rt.RunPodSandbox(ctx(t), cfg, ""); err == nil {
		t.Fatal("RunPodSandbox succeeded with a plugin failing its ADD")
	}
	if got := n.AllocatedIPs(t); len(got) != 1 {
		t.Fatalf("allocations %v after the failed undo: want the pod's (the plugin that fails holds it up)", got)
	}
	ids := podSandboxes(t, rt, cfg.Metadata.Uid)
	if len(ids) != 1 {
		t.Fatalf("sandboxes of the failed pod: %v; want it kept, for its DEL to be tried again", ids)
	}
	failed := ids[0]
	l.sandboxes = append(l.sandboxes, failed)
	if _, err := os.Stat(checkpointOf(d, failed)); err != nil {
		t.Fatalf("the failed pod's checkpoint: %v", err)
	}

	// A pod whose DEL fails: Stop and Remove fail, and keep its checkpoint.
	plugin.Fail(t, "ADD", false)
	stuckCfg := env.SandboxConfig(t, "stuck")
	l.uids = append(l.uids, stuckCfg.Metadata.Uid)
	stuck, err := rt.RunPodSandbox(ctx(t), stuckCfg, "")
	if err != nil {
		t.Fatal(err)
	}
	l.sandboxes = append(l.sandboxes, stuck)
	if err := rt.StopPodSandbox(ctx(t), stuck); err == nil {
		t.Error("StopPodSandbox succeeded with a plugin failing its DEL")
	}
	if err := rt.RemovePodSandbox(ctx(t), stuck); err == nil {
		t.Error("RemovePodSandbox succeeded with a plugin failing its DEL")
	}
	if _, err := os.Stat(checkpointOf(d, stuck)); err != nil {
		t.Fatalf("checkpoint of the pod whose DEL failed: %v", err)
	}

	// A pod removed with Docker, not dockercri: only the sweep can free its network.
	goneCfg := env.SandboxConfig(t, "gone")
	l.uids = append(l.uids, goneCfg.Metadata.Uid)
	gone, err := rt.RunPodSandbox(ctx(t), goneCfg, "")
	if err != nil {
		t.Fatal(err)
	}
	l.sandboxes = append(l.sandboxes, gone)
	if err := env.Docker.Client.ContainerRemove(ctx(t), gone, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := n.AllocatedIPs(t); len(got) != 3 {
		t.Fatalf("allocations %v, want the three pods'", got)
	}

	// The plugin's DEL works again: the sweep frees the failed pod's and the gone
	// pod's network, and forgets the gone pod; the rest is the kubelet's to remove.
	plugin.Fail(t, "DEL", false)
	if err := framework.WaitFor(time.Minute, func() error {
		if got := n.AllocatedIPs(t); len(got) != 1 {
			return fmt.Errorf("allocations %v, want the stuck pod's only", got)
		}
		if _, err := os.Stat(checkpointOf(d, gone)); err == nil {
			return fmt.Errorf("the gone pod's checkpoint is still there")
		}
		return nil
	}); err != nil {
		t.Fatalf("the sweep: %v", err)
	}
	for _, id := range []string{failed, stuck} {
		if err := rt.StopPodSandbox(ctx(t), id); err != nil {
			t.Errorf("stop %s: %v", id[:12], err)
		}
		if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
			t.Errorf("remove %s: %v", id[:12], err)
		}
	}
	checkNothingLeft(t, n, d, l)
}

// kill -9 of dockercri while a CNI plugin runs its ADD takes the plugin with it: it
// cannot finish after dockercri restarted and ran the pod's DEL. The restart also
// removes the temporary file of a checkpoint write the kill cut short.
func TestKilledDuringAddLeavesNothing(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	plugin := n.AddTestPlugin(t, "firewall")
	d, rt := startOnNetwork(t, n)
	cfg := env.SandboxConfig(t, "killed")
	plugin.Hold(t, "ADD")
	done := make(chan error, 1)
	go func() { _, err := rt.RunPodSandbox(ctx(t), cfg, ""); done <- err }()
	var pid int
	if err := framework.WaitFor(time.Minute, func() error {
		if pid = plugin.Held("ADD"); pid == 0 {
			return fmt.Errorf("the plugin has not started its ADD")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	d.Process().Kill()
	<-done
	if err := framework.WaitFor(20*time.Second, func() error {
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			return fmt.Errorf("plugin %d still runs", pid)
		}
		return nil
	}); err != nil {
		t.Errorf("the plugin outlived dockercri: %v", err)
	}
	stale := filepath.Join(d.Dir, "state", "sandbox", ".0123abcd.tmp-42")
	if err := os.WriteFile(stale, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	rt = d.Runtime(t)
	if _, err := os.Stat(stale); err == nil {
		t.Error("the restart left the temporary file of an interrupted checkpoint write")
	}
	ids := podSandboxes(t, rt, cfg.Metadata.Uid)
	for _, id := range ids {
		if err := rt.StopPodSandbox(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
			t.Fatal(err)
		}
	}
	checkNothingLeft(t, n, d, leftovers{sandboxes: ids, uids: []string{cfg.Metadata.Uid}})
}

// zombie tells whether process pid has ended and waits for its parent to reap it.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == ')' {
			return i+2 < len(s) && s[i+2] == 'Z'
		}
	}
	return false
}
