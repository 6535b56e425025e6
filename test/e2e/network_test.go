//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"google.golang.org/grpc/codes"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// startOnNetwork writes n's config and starts a dockercri that uses it.
func startOnNetwork(t *testing.T, n *framework.CNINetwork) (*framework.Dockercri, internalapi.RuntimeService) {
	t.Helper()
	n.Write(t)
	d := env.StartDockercri(t, n.Args()...)
	return d, d.Runtime(t)
}

// httpdScript serves "hello from <name>" on port 8080.
func httpdScript(name string) string {
	return fmt.Sprintf(`mkdir -p /www && echo "hello from %s" > /www/index.html && exec httpd -f -p 8080 -h /www`, name)
}

// podIP is the sandbox's primary IP from its status.
func podIP(t *testing.T, rt internalapi.RuntimeService, id string) string {
	t.Helper()
	st, err := rt.PodSandboxStatus(ctx(t), id, false)
	if err != nil {
		t.Fatal(err)
	}
	ip := st.GetStatus().GetNetwork().GetIp()
	if net.ParseIP(ip) == nil {
		t.Fatalf("sandbox %s has no IP in its status: %v", id, st.GetStatus().GetNetwork())
	}
	return ip
}

// httpGet fetches url from the test process, retrying while the server starts.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	var body string
	err := framework.WaitFor(20*time.Second, func() error {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return body
}

// podGet fetches url from inside a container with busybox wget.
func podGet(t *testing.T, d *framework.Dockercri, cid, url string) string {
	t.Helper()
	var out string
	err := framework.WaitFor(20*time.Second, func() error {
		r, err := execSync(t, d, cid, []string{"wget", "-q", "-O", "-", url}, 10*time.Second)
		if err != nil {
			return err
		}
		if r.ExitCode != 0 {
			return fmt.Errorf("wget exit %d: %s", r.ExitCode, r.Stderr)
		}
		out = string(r.Stdout)
		return nil
	})
	if err != nil {
		t.Fatalf("wget %s in %s: %v", url, cid[:12], err)
	}
	return out
}

// Two pods on a CNI bridge reach each other by IP; a pod's port answers on its IP and
// its hostPort on 127.0.0.1; a pod reaches itself through its hostPort (hairpin); DNS
// config and hostname are the sandbox config's; after kill -9 of dockercri the pods
// keep their network and their IPs in status.
func TestPodNetwork(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	d, rt := startOnNetwork(t, n)
	ref := pullBusybox(t, d.Images(t))
	hostPort := int32(mustFreePort(t))

	cfgA := env.SandboxConfig(t, "alpha")
	cfgA.Hostname = "alpha-host"
	cfgA.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"ns.svc.cluster.local"}, Options: []string{"ndots:5"}}
	cfgA.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080, HostPort: hostPort}}
	a := runPod(t, rt, cfgA)
	aID := a.start(t, framework.ContainerConfig("web", ref, httpdScript("alpha")))
	b := runPod(t, rt, env.SandboxConfig(t, "beta"))
	bID := b.start(t, framework.ContainerConfig("web", ref, httpdScript("beta")))

	ipA, ipB := podIP(t, rt, a.id), podIP(t, rt, b.id)
	_, subnet, _ := net.ParseCIDR(n.Subnet)
	if ipA == ipB || !subnet.Contains(net.ParseIP(ipA)) || !subnet.Contains(net.ParseIP(ipB)) {
		t.Fatalf("pod IPs %s and %s, want two addresses of %s", ipA, ipB, n.Subnet)
	}
	if got := podGet(t, d, bID, "http://"+ipA+":8080/"); got != "hello from alpha\n" {
		t.Errorf("beta → alpha: %q", got)
	}
	if got := podGet(t, d, aID, "http://"+ipB+":8080/"); got != "hello from beta\n" {
		t.Errorf("alpha → beta: %q", got)
	}
	if got := httpGet(t, "http://"+ipA+":8080/"); got != "hello from alpha\n" {
		t.Errorf("node → alpha's IP: %q", got)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort)); got != "hello from alpha\n" {
		t.Errorf("hostPort on 127.0.0.1: %q", got)
	}
	if got := podGet(t, d, aID, fmt.Sprintf("http://%s:%d/", n.Gateway, hostPort)); got != "hello from alpha\n" {
		t.Errorf("alpha → its own hostPort (hairpin): %q", got)
	}
	// The pod's network counters, read in its namespace, saw that traffic.
	ps, err := rt.PodSandboxStats(ctx(t), a.id)
	if eth0 := ps.GetLinux().GetNetwork().GetDefaultInterface(); err != nil || eth0.GetName() != "eth0" || eth0.GetRxBytes().GetValue() == 0 || eth0.GetTxBytes().GetValue() == 0 {
		t.Errorf("pod network stats: %v, %v", ps.GetLinux().GetNetwork(), err)
	}
	out, err := execSync(t, d, aID, []string{"sh", "-c", "hostname; cat /etc/resolv.conf"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alpha-host\n", "nameserver 10.96.0.10\n", "search ns.svc.cluster.local\n", "options ndots:5\n"} {
		if !strings.Contains(string(out.Stdout), want) {
			t.Errorf("alpha's hostname and resolv.conf %q lack %q", out.Stdout, want)
		}
	}

	d.Process().Kill()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	rt = d.Runtime(t)
	a.rt, b.rt = rt, rt
	if got := podIP(t, rt, a.id); got != ipA {
		t.Errorf("alpha's IP after a restart of dockercri: %s, want %s", got, ipA)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort)); got != "hello from alpha\n" {
		t.Errorf("hostPort after a restart of dockercri: %q", got)
	}
	// Stopped, the pod keeps its IP in status (from the checkpoint).
	if err := rt.StopPodSandbox(ctx(t), a.id); err != nil {
		t.Fatal(err)
	}
	if got := podIP(t, rt, a.id); got != ipA {
		t.Errorf("alpha's IP once stopped: %s, want %s", got, ipA)
	}
	if rules := framework.IPTablesRules(t, a.id); len(rules) != 0 {
		t.Errorf("iptables rules of a stopped pod: %q", rules)
	}
}

// The kubelet sends every declared containerPort as a port mapping, host port 0 when
// the pod asks for none (most pods): such a pod starts, its ports answer on its IP, a
// mapping with a host port beside them answers on 127.0.0.1, the status keeps all of
// them, and stop and remove leave no IP, iptables rule or CNI cache entry.
func TestPortMappingsWithoutHostPort(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	d, rt := startOnNetwork(t, n)
	ref := pullBusybox(t, d.Images(t))
	hostPort := int32(mustFreePort(t))
	cfg := env.SandboxConfig(t, "ports")
	cfg.PortMappings = []*runtimeapi.PortMapping{
		{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080},
		{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 5353},
		{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080, HostPort: hostPort},
	}
	p := runPod(t, rt, cfg)
	p.start(t, framework.ContainerConfig("web", ref, httpdScript("ports")))
	ip := podIP(t, rt, p.id)
	if got := httpGet(t, "http://"+ip+":8080/"); got != "hello from ports\n" {
		t.Errorf("pod IP: %q", got)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort)); got != "hello from ports\n" {
		t.Errorf("hostPort beside ports without one: %q", got)
	}
	st, err := rt.PodSandboxStatus(ctx(t), p.id, true)
	if err != nil {
		t.Fatal(err)
	}
	if info := st.GetInfo()["info"]; strings.Count(info, `"container_port"`) != 3 {
		t.Errorf("status does not keep the 3 port mappings: %s", info)
	}
	if err := rt.StopPodSandbox(ctx(t), p.id); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemovePodSandbox(ctx(t), p.id); err != nil {
		t.Fatal(err)
	}
	if ips := n.AllocatedIPs(t); len(ips) != 0 {
		t.Errorf("IPs left: %v", ips)
	}
	if rules := framework.IPTablesRules(t, p.id, ip+"/", ip+":"); len(rules) != 0 {
		t.Errorf("iptables rules left: %q", rules)
	}
	if entries, _ := os.ReadDir(filepath.Join(n.CacheDir, "results")); len(entries) != 0 {
		t.Errorf("CNI cache entries left: %d", len(entries))
	}
}

// A host-network pod skips CNI: the host's interfaces and hostname, no pod IP, its port
// mappings reported but not programmed.
func TestHostNetworkPod(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	d, rt := startOnNetwork(t, n)
	cfg := env.SandboxConfig(t, "hostnet")
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 9090, HostPort: 9090}}
	p := runPod(t, rt, cfg)
	c := framework.ContainerConfig("c", pullBusybox(t, d.Images(t)), "exec sleep 3600")
	c.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	cid := p.start(t, c)

	out, err := execSync(t, d, cid, []string{"sh", "-c", "hostname; ls /sys/class/net"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out.Stdout))
	host, _ := os.Hostname()
	if len(lines) == 0 || lines[0] != host {
		t.Errorf("host-network pod's hostname: %q, want %q", lines, host)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		if !containsName(lines[1:], i.Name) && i.Name != n.Bridge {
			t.Errorf("host interface %s not seen by the host-network pod (it sees %q)", i.Name, lines[1:])
		}
	}
	st, err := rt.PodSandboxStatus(ctx(t), p.id, true)
	if err != nil {
		t.Fatal(err)
	}
	if ip := st.GetStatus().GetNetwork().GetIp(); ip != "" {
		t.Errorf("host-network pod reports pod IP %s", ip)
	}
	if st.GetStatus().GetLinux().GetNamespaces().GetOptions().GetNetwork() != runtimeapi.NamespaceMode_NODE {
		t.Errorf("status network mode %v, want NODE", st.GetStatus().GetLinux().GetNamespaces().GetOptions())
	}
	if !strings.Contains(st.GetInfo()["info"], `"host_port":9090`) {
		t.Errorf("host-network pod's port mappings not reported: %s", st.GetInfo()["info"])
	}
	if rules := framework.IPTablesRules(t, p.id); len(rules) != 0 {
		t.Errorf("iptables rules for a host-network pod: %q", rules)
	}
	if ips := n.AllocatedIPs(t); len(ips) != 0 {
		t.Errorf("IPs allocated for a host-network pod: %v", ips)
	}
}

// NetworkReady follows the config directory: missing, valid, broken, fixed; a pod
// asked for while there is no network fails cleanly.
func TestNetworkReadyFollowsConfig(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	d := env.StartDockercri(t, n.Args()...)
	rt := d.Runtime(t)
	waitNetworkReady := func(want bool, msgHas string) {
		t.Helper()
		err := framework.WaitFor(20*time.Second, func() error {
			st, err := rt.Status(ctx(t), false)
			if err != nil {
				return err
			}
			c := condition(t, st.GetStatus(), runtimeapi.NetworkReady)
			if c.GetStatus() != want || !want && (c.GetReason() != "NetworkPluginNotReady" || !strings.Contains(c.GetMessage(), msgHas)) {
				return fmt.Errorf("NetworkReady = %v", c)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitNetworkReady(false, n.ConfDir)
	cfg := env.SandboxConfig(t, "early")
	_, err := rt.RunPodSandbox(ctx(t), cfg, "")
	raw, _ := d.Raw(t)
	_, rawErr := raw.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	wantCode(t, rawErr, codes.FailedPrecondition, "RunPodSandbox with no network config")
	if err == nil {
		t.Error("RunPodSandbox succeeded with no network config")
	}
	left, err := env.Docker.Client.ContainerList(ctx(t), container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range left {
		if c.Labels["io.kubernetes.pod.uid"] == cfg.Metadata.Uid {
			t.Errorf("a failed RunPodSandbox left container %s", c.Names)
		}
	}

	n.Write(t)
	waitNetworkReady(true, "")
	n.WriteFile(t, "10-test.conflist", `{"cniVersion": "1.0.0", "name": "broken", "plugins": [`)
	waitNetworkReady(false, "10-test.conflist")
	n.Write(t)
	waitNetworkReady(true, "")
	runPod(t, rt, env.SandboxConfig(t, "late"))
}

// A sandbox whose network is being set up is not listed, and its status says not
// ready; once RunPodSandbox has returned it is listed, ready, with its IP. (The kubelet's
// PLEG, listing meanwhile, had kept a ready sandbox without an IP and recreated the pod.)
func TestSandboxListedOnceItsNetworkIsUp(t *testing.T) {
	t.Parallel()
	n := env.NewCNINetwork(t)
	gate := n.AddTestPlugin(t, "")
	gate.Hold(t, "ADD")
	_, rt := startOnNetwork(t, n)
	cfg := env.SandboxConfig(t, "gated")
	ran := make(chan error, 1)
	go func() {
		_, err := rt.RunPodSandbox(ctx(t), cfg, "")
		ran <- err
	}()
	if err := framework.WaitFor(60*time.Second, func() error {
		if gate.Held("ADD") == 0 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("the network's ADD never began: %v", err)
	}
	// The pause container runs and Docker's view has it: wait until Docker lists it.
	var id string
	if err := framework.WaitFor(30*time.Second, func() error {
		cs, err := env.Docker.Client.ContainerList(ctx(t), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "io.kubernetes.pod.uid="+cfg.Metadata.Uid))})
		if err != nil || len(cs) == 0 || cs[0].State != "running" {
			return fmt.Errorf("pause container not running yet: %v", err)
		}
		id = cs[0].ID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st, err := rt.PodSandboxStatus(ctx(t), id, false); err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("status while the network is set up: %v, %v; want not ready", st.GetStatus().GetState(), err)
	}
	if sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{Id: id}); err != nil || len(sbs) != 0 {
		t.Errorf("listed while its network is set up: %v, %v", sbs, err)
	}
	gate.Release(t, "ADD")
	if err := <-ran; err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{Id: id})
	if err != nil || len(sbs) != 1 || sbs[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("after RunPodSandbox: %v, %v; want it listed, ready", sbs, err)
	}
	if ip := podIP(t, rt, id); ip == "" {
		t.Errorf("no IP once RunPodSandbox returned")
	}
	if err := rt.StopPodSandbox(ctx(t), id); err != nil {
		t.Error(err)
	}
	if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
		t.Error(err)
	}
}
