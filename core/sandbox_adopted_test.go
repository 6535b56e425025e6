package core

import (
	"testing"

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
