package network

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

func TestRuntimeConf(t *testing.T) {
	m := NewManager(Options{Plugin: "cni"})
	m.SetPodCIDR("10.244.1.0/24, fd00::/64")
	rt, err := m.runtimeConf(Pod{
		ID: "sb", Name: "web", Namespace: "ns", UID: "u1", NetNS: "/proc/1/ns/net",
		PortMappings: []PortMapping{{HostPort: 80, ContainerPort: 8080, Protocol: "tcp"}},
		Annotations:  map[string]string{ingressBandwidthAnnotation: "10M", egressBandwidthAnnotation: "1Mi"},
		DNS:          &DNS{Servers: []string{"10.96.0.10"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rt.ContainerID != "sb" || rt.NetNS != "/proc/1/ns/net" || rt.IfName != "eth0" {
		t.Errorf("runtime conf = %+v", rt)
	}
	wantArgs := [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "ns"}, {"K8S_POD_NAME", "web"}, {"K8S_POD_INFRA_CONTAINER_ID", "sb"}, {"K8S_POD_UID", "u1"}}
	if !reflect.DeepEqual(rt.Args, wantArgs) {
		t.Errorf("args = %v", rt.Args)
	}
	bw := rt.CapabilityArgs["bandwidth"].(*bandwidthLimits)
	if bw.IngressRate != 10_000_000 || bw.EgressRate != 1<<20 || bw.IngressBurst == 0 {
		t.Errorf("bandwidth = %+v", bw)
	}
	if r := rt.CapabilityArgs["ipRanges"].([][]ipRange); len(r) != 2 || r[1][0].Subnet != "fd00::/64" {
		t.Errorf("ipRanges = %v", r)
	}
	if _, ok := rt.CapabilityArgs["portMappings"]; !ok {
		t.Error("no portMappings")
	}

	// Nothing asked: no capability arguments at all.
	rt, err = NewManager(Options{Plugin: "cni"}).runtimeConf(Pod{ID: "sb"})
	if err != nil || len(rt.CapabilityArgs) != 0 {
		t.Errorf("empty pod: %v, %v", rt.CapabilityArgs, err)
	}
	if _, err := m.runtimeConf(Pod{Annotations: map[string]string{egressBandwidthAnnotation: "fast"}}); !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("a bad bandwidth annotation: %v, want an invalid argument", err)
	}
}

func TestPodIPs(t *testing.T) {
	host, cont := 0, 1
	res := &types100.Result{
		CNIVersion: "1.0.0",
		Interfaces: []*types100.Interface{{Name: "cni0"}, {Name: "eth0", Sandbox: "/proc/1/ns/net"}},
		IPs: []*types100.IPConfig{
			{Interface: &host, Address: net.IPNet{IP: net.ParseIP("10.1.0.1"), Mask: net.CIDRMask(24, 32)}},
			{Interface: &cont, Address: net.IPNet{IP: net.ParseIP("fd00::5"), Mask: net.CIDRMask(64, 128)}},
			{Interface: &cont, Address: net.IPNet{IP: net.ParseIP("10.1.0.5"), Mask: net.CIDRMask(24, 32)}},
		},
	}
	ips, err := podIPs(res)
	if err != nil || !reflect.DeepEqual(ips, []string{"10.1.0.5", "fd00::5"}) {
		t.Errorf("podIPs = %v, %v; want IPv4 first, no host-side address", ips, err)
	}
	if _, err := podIPs(&types100.Result{CNIVersion: "1.0.0"}); err == nil {
		t.Error("a result without IPs was accepted")
	}
}

func TestFirstValidConfig(t *testing.T) {
	dir := t.TempDir()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "bridge"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := configCache{dir: filepath.Join(dir, "missing"), binDirs: []string{"/nonexistent", bin}}
	if _, err := c.current(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dir: %v", err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.dir = dir
	write("05-broken.conflist", `{"cniVersion": "1.0.0", "name": "x", "plugins": [`)
	write("07-noplugin.conflist", `{"cniVersion": "1.0.0", "name": "y", "plugins": [{"type": "nothere"}]}`)
	if _, err := c.current(); err == nil || !strings.Contains(err.Error(), "05-broken.conflist") || !strings.Contains(err.Error(), `"nothere" not found`) {
		t.Errorf("only bad configs: %v", err)
	}
	write("10-net.conf", `{"cniVersion": "1.0.0", "name": "good", "type": "bridge"}`)
	write("20-later.conflist", `{"cniVersion": "1.0.0", "name": "later", "plugins": [{"type": "bridge"}]}`)
	list, err := c.current()
	if err != nil || list.Name != "good" {
		t.Errorf("first valid config: %v, %v", list, err)
	}
}
