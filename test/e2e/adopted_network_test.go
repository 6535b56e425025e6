//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// criDockerdPod is a pod cri-dockerd left on the node: its pause container, made on
// Docker with cri-dockerd's name and labels, attached with libcni the way cri-dockerd's
// CNI plugin attaches a pod (the node's network and cri-dockerd's cni-loopback, both
// on eth0, with the pod's hostPort in the portMappings capability).
type criDockerdPod struct {
	id, uid, ip string
	pid         int
	pause       pauseProcess
	hostPort    int
	// labels and annotations are what cri-dockerd reported of the sandbox.
	labels, annotations map[string]string
	// checkpoint is cri-dockerd's checkpoint of the sandbox.
	checkpoint []byte
}

// criDockerdLoopback is cri-dockerd's loopback network, as its CNI plugin defines it.
const criDockerdLoopback = `{"cniVersion": "0.2.0", "name": "cni-loopback", "plugins": [{"type": "loopback"}]}`

func newCriDockerdPod(t *testing.T, n *framework.CNINetwork) *criDockerdPod {
	t.Helper()
	rc, err := env.Docker.Client.ImagePull(ctx(t), env.PauseImage, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	p := &criDockerdPod{uid: "criduid-" + strconv.FormatInt(time.Now().UnixNano(), 36), hostPort: mustFreePort(t)}
	ns, name := env.Namespace(), "adopted"
	p.labels = map[string]string{"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.uid": p.uid, "app": "web"}
	p.annotations = map[string]string{"kubernetes.io/config.seen": "2026-12-01T10:00:00Z", "kubernetes.io/config.source": "file"}
	labels := map[string]string{"io.kubernetes.docker.type": "podsandbox", "io.kubernetes.container.name": "POD"}
	for k, v := range p.labels {
		labels[k] = v
	}
	for k, v := range p.annotations {
		labels["annotation."+k] = v
	}
	created, err := env.Docker.Client.ContainerCreate(ctx(t), &container.Config{Image: env.PauseImage, Hostname: name, Labels: labels},
		&container.HostConfig{NetworkMode: "none", IpcMode: "shareable"}, nil, nil, fmt.Sprintf("k8s_POD_%s_%s_%s_0", name, ns, p.uid))
	if err != nil {
		t.Fatal(err)
	}
	p.id = created.ID
	if err := env.Docker.Client.ContainerStart(ctx(t), p.id, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	insp, err := env.Docker.Client.ContainerInspect(ctx(t), p.id)
	if err != nil {
		t.Fatal(err)
	}
	p.pid = insp.State.Pid
	p.pause = pauseOf(t, p.pid)

	cni := libcni.NewCNIConfig([]string{framework.CNIBinDir}, nil)
	lo, err := libcni.ConfListFromBytes([]byte(criDockerdLoopback))
	if err != nil {
		t.Fatal(err)
	}
	podnet, err := libcni.ConfListFromBytes([]byte(n.Conflist()))
	if err != nil {
		t.Fatal(err)
	}
	// The test's own hold on the pod's namespace, for its cleanup's DEL only: the
	// bridge plugin finds the pod's masquerading rules by its interface there.
	pin := filepath.Join(env.TempDir(t, "netns"), "pod")
	if err := os.WriteFile(pin, nil, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(fmt.Sprintf("/proc/%d/ns/net", p.pid), pin, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	rt := &libcni.RuntimeConf{
		ContainerID: p.id, NetNS: fmt.Sprintf("/proc/%d/ns/net", p.pid), IfName: "eth0", CacheDir: n.CacheDir,
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", ns}, {"K8S_POD_NAME", name}, {"K8S_POD_INFRA_CONTAINER_ID", p.id}},
		CapabilityArgs: map[string]any{
			"portMappings": []map[string]any{{"hostPort": p.hostPort, "containerPort": 80, "protocol": "tcp", "hostIP": ""}},
			"ipRanges":     [][]map[string]string{{{"subnet": ""}}},
		},
	}
	// Whatever the test leaves (it failed), this takes away, after dockercri.
	t.Cleanup(func() {
		c, del := context.Background(), *rt
		del.NetNS = pin
		_ = cni.DelNetworkList(c, podnet, &del)
		_ = cni.DelNetworkList(c, lo, &del)
		_ = unix.Unmount(pin, unix.MNT_DETACH)
		_ = env.Docker.Client.ContainerRemove(c, p.id, container.RemoveOptions{Force: true})
	})
	if _, err := cni.AddNetworkList(ctx(t), lo, rt); err != nil {
		t.Fatal(err)
	}
	res, err := cni.AddNetworkList(ctx(t), podnet, rt)
	if err != nil {
		t.Fatal(err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil || len(r.IPs) == 0 {
		t.Fatalf("ADD result %v, %v", res, err)
	}
	p.ip = r.IPs[0].Address.IP.String()
	p.checkpoint, err = json.Marshal(map[string]any{"version": "v1", "name": name, "namespace": ns, "checksum": 2779475443,
		"data": map[string]any{"port_mappings": []map[string]any{{"protocol": "tcp", "container_port": 80, "host_port": p.hostPort}}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A pod cri-dockerd left, its network attached as cri-dockerd attaches one, is
// dockercri's once it starts, with no dockercri checkpoint of it and with the
// checkpoint of cri-dockerd's (dockercri's root directory set to cri-dockerd's, the
// --cri-dockerd-root-directory of its unit file): it keeps its IP in its status (from
// the CNI cache, else its network namespace, where cri-dockerd read it), and the
// labels and annotations cri-dockerd reported; its Stop removes its hostPort's DNAT
// rules (the DEL has the network, config and port mappings of its ADD, from the CNI
// cache), frees its address and deletes its cni-loopback attachment too; once removed
// nothing of it is left.
func TestAdoptedCriDockerdPodNetwork(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		// sharedRoot is dockercri's root directory set to cri-dockerd's, holding
		// cri-dockerd's checkpoint of the pod.
		sharedRoot bool
	}{{"own-root", false}, {"cri-dockerd-root", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := env.NewCNINetwork(t)
			n.IPMasq = true
			n.Write(t)
			p := newCriDockerdPod(t, n)
			if rules := framework.IPTablesRules(t, fmt.Sprintf("--dport %d ", p.hostPort)); len(rules) == 0 {
				t.Fatal("cri-dockerd's ADD made no DNAT rule for the hostPort: the check below could not see one left")
			}
			d := env.NewDockercri(t, n.Args()...)
			if c.sharedRoot {
				root := filepath.Join(d.Dir, "state")
				if err := os.MkdirAll(filepath.Join(root, "sandbox"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, "sandbox", p.id), p.checkpoint, 0o600); err != nil {
					t.Fatal(err)
				}
				d.Args = append(d.Args, "--cri-dockerd-root-directory", root)
			}
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			rt := d.Runtime(t)
			waitViewLoaded(t, rt)

			sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": p.uid}})
			if err != nil || len(sbs) != 1 || sbs[0].Id != p.id || sbs[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
				t.Fatalf("the adopted pod listed as %v, %v", sbs, err)
			}
			if !reflect.DeepEqual(sbs[0].Labels, p.labels) || !reflect.DeepEqual(sbs[0].Annotations, p.annotations) {
				t.Errorf("listed with labels %v and annotations %v, want cri-dockerd's %v and %v", sbs[0].Labels, sbs[0].Annotations, p.labels, p.annotations)
			}
			st, err := rt.PodSandboxStatus(ctx(t), p.id, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.GetStatus().GetNetwork().GetIp(); got != p.ip {
				t.Errorf("status IP %q, want %s, the IP cri-dockerd's ADD gave the pod", got, p.ip)
			}
			if !reflect.DeepEqual(st.GetStatus().GetLabels(), p.labels) || !reflect.DeepEqual(st.GetStatus().GetAnnotations(), p.annotations) {
				t.Errorf("status labels %v and annotations %v, want cri-dockerd's %v and %v", st.GetStatus().GetLabels(), st.GetStatus().GetAnnotations(), p.labels, p.annotations)
			}
			// Without its result in the cache, the pod's IP is read in its namespace.
			cached := filepath.Join(n.CacheDir, "results", n.Name+"-"+p.id+"-eth0")
			if err := os.Rename(cached, cached+".away"); err != nil {
				t.Fatal(err)
			}
			st, err = rt.PodSandboxStatus(ctx(t), p.id, false)
			if err := os.Rename(cached+".away", cached); err != nil {
				t.Fatal(err)
			}
			if got := st.GetStatus().GetNetwork().GetIp(); err != nil || got != p.ip {
				t.Errorf("status IP without the cached result %q (%v), want %s from the pod's namespace", got, err, p.ip)
			}

			for range 2 {
				if err := rt.StopPodSandbox(ctx(t), p.id); err != nil {
					t.Fatal(err)
				}
			}
			if rules := framework.IPTablesRules(t, fmt.Sprintf("--dport %d ", p.hostPort)); len(rules) != 0 {
				t.Errorf("the hostPort's DNAT rules are left once the pod stopped: %q", rules)
			}
			if cached, _ := filepath.Glob(filepath.Join(n.CacheDir, "results", "*"+p.id+"*")); len(cached) != 0 {
				t.Errorf("CNI cache entries left once the pod stopped: %v", cached)
			}
			if err := rt.RemovePodSandbox(ctx(t), p.id); err != nil {
				t.Fatal(err)
			}
			checkNothingLeft(t, n, d, leftovers{sandboxes: []string{p.id}, uids: []string{p.uid}, words: []string{p.ip + " ", p.ip + "/"}, pauses: []pauseProcess{p.pause}})
		})
	}
}
