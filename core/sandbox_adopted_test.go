package core

import (
	"context"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/checkpoint"
)

// A checkpoint of cri-dockerd's (read from its root directory) names no network of a
// pod that has one: its DEL is due until done, from the CNI cache. dockercri's own say
// all: no network is none.
func TestNetworkPending(t *testing.T) {
	ports := &checkpoint.Data{PortMappings: []checkpoint.PortMapping{{Protocol: "tcp", ContainerPort: 80, HostPort: 8080}}}
	for _, c := range []struct {
		name    string
		cp      checkpoint.Sandbox
		old     bool
		pending bool
	}{
		{"cri-dockerd's", checkpoint.Sandbox{Name: "web", Data: ports, CheckSum: 2779475443}, true, true},
		{"cri-dockerd's, torn down", checkpoint.Sandbox{Name: "web", Data: ports, NetworkTornDown: true}, true, false},
		{"cri-dockerd's, no data", checkpoint.Sandbox{Name: "web"}, true, true},
		{"cri-dockerd's, host network", checkpoint.Sandbox{Name: "web", Data: &checkpoint.Data{HostNetwork: true}}, false, false},
		{"dockercri's, attached", checkpoint.Sandbox{Own: true, Network: "podnet", Data: ports}, false, true},
		{"dockercri's, detached", checkpoint.Sandbox{Own: true, Network: "podnet", NetworkTornDown: true}, false, false},
		{"dockercri's, no network", checkpoint.Sandbox{Own: true, Data: ports}, false, false},
		{"dockercri's before Own, attached", checkpoint.Sandbox{Network: "podnet"}, false, true},
	} {
		if got := oldServers(&c.cp); got != c.old {
			t.Errorf("%s: oldServers = %t", c.name, got)
		}
		if got := networkPending(&c.cp); got != c.pending {
			t.Errorf("%s: networkPending = %t", c.name, got)
		}
	}
}

// The old server's checkpoint of a pod dockercri removes goes with it (a move back would
// list the pod as one that is not ready); those of its other pods stay.
func TestRemoveTakesOldServersCheckpoint(t *testing.T) {
	root := t.TempDir()
	h := newHandlers(t, newFakeDocker(), root)
	sb, _ := h.runPod(t, "web")
	old := checkpoint.NewStore(filepath.Join(root, "old-server"))
	other := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, id := range []string{sb, other} {
		if err := old.Save(id, &checkpoint.Sandbox{Name: "web", Namespace: "ns"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb}); err != nil {
		t.Fatal(err)
	}
	ids, err := old.IDs()
	if err != nil || len(ids) != 1 || ids[0] != other {
		t.Errorf("the old server's checkpoints after RemovePodSandbox: %v, %v; want %s only", ids, err, other)
	}
}
