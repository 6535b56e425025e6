package network

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

// fakePlugin writes a plugin that logs each call (command, CNI_ARGS, stdin) to log
// and answers an ADD with result.
func fakePlugin(t *testing.T, dir, name, log, result string) {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\nin=$(cat)\necho \"$CNI_COMMAND $CNI_ARGS $in\" >> %s\n[ \"$CNI_COMMAND\" = ADD ] && echo '%s'\nexit 0\n", log, result)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A pod cri-dockerd set up (its pod network, with a hostPort, and its cni-loopback,
// both on eth0, no record of dockercri's): its IPs are read from libcni's cache, not
// the loopback's, and its DEL runs on both networks with the config and arguments of
// their ADDs (the port mappings the portmap rules were made for) and today's
// namespace, which empties the cache.
func TestAdoptedPodFromCache(t *testing.T) {
	bin, cache, dir := t.TempDir(), t.TempDir(), t.TempDir()
	log := filepath.Join(dir, "calls")
	// A chained plugin passes its prevResult on: the fake portmap gives bridge's.
	bridged := `{"cniVersion": "1.0.0", "interfaces": [{"name": "cni0"}, {"name": "eth0", "sandbox": "/proc/1/ns/net"}],
  "ips": [{"address": "10.9.0.1/24", "interface": 0}, {"address": "10.9.0.5/24", "interface": 1}]}`
	fakePlugin(t, bin, "fake-bridge", log, bridged)
	fakePlugin(t, bin, "fake-portmap", log, bridged)
	fakePlugin(t, bin, "loopback", log, `{"cniVersion": "0.2.0", "ip4": {"ip": "127.0.0.1/8"}}`)

	// cri-dockerd's ADDs, as its CNI plugin makes them.
	old := libcni.NewCNIConfigWithCacheDir([]string{bin}, cache, nil)
	lo, err := libcni.ConfListFromBytes([]byte(`{"cniVersion": "0.2.0", "name": "cni-loopback", "plugins": [{"type": "loopback"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	podnet, err := libcni.ConfListFromBytes([]byte(`{"cniVersion": "1.0.0", "name": "podnet", "plugins": [{"type": "fake-bridge"},
  {"type": "fake-portmap", "capabilities": {"portMappings": true}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	rt := &libcni.RuntimeConf{
		ContainerID: "sb1", NetNS: "/proc/1/ns/net", IfName: "eth0",
		Args:           [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "ns"}, {"K8S_POD_NAME", "web"}, {"K8S_POD_INFRA_CONTAINER_ID", "sb1"}},
		CapabilityArgs: map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}}},
	}
	for _, list := range []*libcni.NetworkConfigList{lo, podnet} {
		if _, err := old.AddNetworkList(context.Background(), list, rt); err != nil {
			t.Fatal(err)
		}
	}
	// Another pod's entry, which is left alone.
	other := *rt
	other.ContainerID = "sb10"
	if _, err := old.AddNetworkList(context.Background(), podnet, &other); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}

	// dockercri, whose own config today is another network.
	m := NewManager(Options{Plugin: "cni", BinDirs: []string{bin}, CacheDir: cache, ConfDir: dir})
	if ips := m.CachedIPs("sb1"); !reflect.DeepEqual(ips, []string{"10.9.0.5"}) {
		t.Errorf("CachedIPs = %v, want the pod network's address on eth0", ips)
	}
	if ips := m.CachedIPs("sb2"); ips != nil {
		t.Errorf("CachedIPs of a pod the cache has not = %v", ips)
	}
	n, err := m.TearDownCached(context.Background(), Pod{ID: "sb1", NetNS: "/proc/self/ns/net"})
	if err != nil || n != 2 {
		t.Fatalf("TearDownCached = %d, %v; want the 2 networks", n, err)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var dels []string
	for _, line := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		if !strings.HasPrefix(line, "DEL IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb1 ") {
			t.Errorf("call %q, want a DEL with the ADD's CNI_ARGS", line)
		}
		dels = append(dels, line)
	}
	if len(dels) != 3 {
		t.Errorf("DELs %q, want loopback's and the pod network's two plugins'", dels)
	}
	portmap := ""
	for _, d := range dels {
		if strings.Contains(d, `"fake-portmap"`) {
			portmap = d
		}
	}
	if !strings.Contains(portmap, `"runtimeConfig":{"portMappings":[{"containerPort":80,"hostIP":"","hostPort":8080,"protocol":"tcp"}]}`) || !strings.Contains(portmap, `"prevResult"`) {
		t.Errorf("portmap's DEL %q lacks the ADD's port mappings or its result", portmap)
	}
	left, _ := filepath.Glob(filepath.Join(cache, "results", "*"))
	if len(left) != 1 || !strings.HasSuffix(left[0], "-sb10-eth0") {
		t.Errorf("cache entries left: %v, want the other pod's only", left)
	}
	if n, err := m.TearDownCached(context.Background(), Pod{ID: "sb1"}); n != 0 || err != nil {
		t.Errorf("second TearDownCached = %d, %v; want nothing to do", n, err)
	}
}
