//go:build kubelet

package kubelet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// node is what a Kubernetes node runs: a dockerd (the tests' own, so that they may stop
// it), dockercri on it with a CNI network, and a kubelet on dockercri.
type node struct {
	dockerd *framework.Dockerd
	cri     *framework.Dockercri
	net     *framework.CNINetwork
	kubelet *framework.Kubelet
	// metrics is dockercri's metrics address.
	metrics string
}

func startNode(t *testing.T) *node {
	t.Helper()
	n := &node{}
	cgroupRoot := "/" + env.Prefix + "-kubelet"
	framework.MakeCgroup(t, cgroupRoot)
	dockerd, err := framework.StartPrivateDockerd(env.TempDir(t, "dockerd"))
	if err != nil {
		t.Fatal(err)
	}
	n.dockerd = dockerd
	t.Cleanup(func() { _ = dockerd.Stop() })
	n.net = env.NewCNINetwork(t)
	n.net.Write(t)
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	n.metrics = fmt.Sprintf("127.0.0.1:%d", port)
	n.cri = env.NewDockercri(t, append([]string{"--docker-endpoint", dockerd.Endpoint, "--metrics-bind-addr", n.metrics, "--enable-pprof"}, n.net.Args()...)...)
	if err := n.cri.Start(); err != nil {
		t.Fatal(err)
	}
	// Runs after the kubelet stopped: pods a failed test left are taken down through
	// dockercri, so that their CNI state (iptables rules, IPs) goes with them.
	t.Cleanup(func() { n.removeAllPods(t) })
	n.kubelet = env.NewKubelet(t, kubeletBin, n.cri.Endpoint, cgroupRoot)
	if err := n.kubelet.Start(); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) removeAllPods(t *testing.T) {
	if n.cri.Process() == nil || n.cri.Process().Exited() {
		return
	}
	rt := n.cri.Runtime(t)
	pods, err := rt.ListPodSandbox(ctx(t), nil)
	if err != nil {
		t.Errorf("list pods for cleanup: %v", err)
		return
	}
	// A time limit per pod: when a run stops before "manifests removed", the 50 pods
	// of "node overhead" are all left, each stopped within its grace period.
	for _, p := range pods {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := rt.StopPodSandbox(c, p.Id); err != nil {
			t.Errorf("cleanup: stop pod %s: %v", p.Id, err)
		}
		if err := rt.RemovePodSandbox(c, p.Id); err != nil {
			t.Errorf("cleanup: remove pod %s: %v", p.Id, err)
		}
		cancel()
	}
}

// dockerNames are the names of all containers of the node's dockerd, as `docker ps -a`.
func (n *node) dockerNames(t *testing.T) []string {
	t.Helper()
	list, err := n.dockerd.Client.ContainerList(ctx(t), container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, strings.TrimPrefix(c.Names[0], "/"))
	}
	return names
}

// waitRunning waits for a static pod to run with all its containers ready.
func (n *node) waitRunning(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	p, err := n.kubelet.WaitPod(name, 2*time.Minute, framework.Running)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pod is a static pod of busybox containers, each running a shell script.
func pod(name string, restart corev1.RestartPolicy, scripts ...string) *corev1.Pod {
	return framework.StaticPod(name, env.Busybox, restart, scripts...)
}

func withMemoryLimit(p *corev1.Pod, limit string) *corev1.Pod {
	return framework.WithLimits(p, map[corev1.ResourceName]string{corev1.ResourceMemory: limit})
}

// sandboxIDs are the CRI pod ids dockercri lists.
func (n *node) sandboxIDs(t *testing.T) []string {
	return n.cri.SandboxIDs(t, &runtimeapi.PodSandboxFilter{})
}
