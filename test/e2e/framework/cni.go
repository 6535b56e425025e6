package framework

import (
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// CNINetwork is a pod network of one test's own: a config directory holding one
// conflist (bridge with hairpin mode, host-local, firewall, portmap, loopback from
// Debian's containernetworking-plugins; firewall lets pod traffic through the FORWARD
// chain, whose policy Docker sets to DROP), with its own bridge, subnet, IPAM and cache directories.
type CNINetwork struct {
	Name, Bridge    string
	Subnet, Gateway string
	ConfDir         string
	CacheDir        string
	IPAMDir         string
	RangeStart, End string // empty: the whole subnet
	// IPMasq has the bridge masquerade the pods' traffic leaving the subnet, with a
	// chain of its own per pod (as most nodes' bridge configs do).
	IPMasq      bool
	prefix      string // of every address in Subnet: "10.123.<n>."
	confFile    string
	testPlugins []*TestPlugin
	env         *Env
}

// AddrPrefix starts every address of the network's subnet ("10.123.<n>."): what the
// tests look for in the host's iptables rules once the pods are gone.
func (n *CNINetwork) AddrPrefix() string { return n.prefix }

// cniSubnets numbers the run's networks: 10.123.<n>.0/24, from a random start, so that
// two runs on one machine (a suite beside another) do not share a subnet.
var cniSubnets atomic.Int32

func init() { cniSubnets.Store(mathrand.Int32N(254)) }

// nextSubnet is the next third octet, 1 to 254, that no address of this host is in
// and no iptables rule names (what another run left there would look like a leak of
// this one's).
func nextSubnet() int32 {
	addrs, _ := net.InterfaceAddrs()
	rules, _ := exec.Command("iptables-save").Output()
	for tries := 0; ; tries++ {
		n := cniSubnets.Add(1)%254 + 1
		prefix := subnetPrefix(n)
		if slices.ContainsFunc(addrs, func(a net.Addr) bool { return strings.HasPrefix(a.String(), prefix) }) {
			continue
		}
		if tries < 254 && namesAddrIn(string(rules), prefix) {
			continue
		}
		return n
	}
}

// subnetPrefix is the start of every address of test subnet n: "10.123.<n>.".
func subnetPrefix(n int32) string { return fmt.Sprintf("10.123.%d.", n) }

// namesAddrIn tells whether iptables-save text names an address starting with prefix:
// after a space or a slash, not inside a longer address (110.123.7.2).
func namesAddrIn(text, prefix string) bool {
	return strings.Contains(text, " "+prefix) || strings.Contains(text, "/"+prefix)
}

// CNIBinDir is where Debian installs the CNI plugins.
const CNIBinDir = "/usr/lib/cni"

// NewCNINetwork makes a network config for a test and removes its bridge afterwards.
func (e *Env) NewCNINetwork(t testing.TB) *CNINetwork {
	t.Helper()
	n := nextSubnet()
	prefix := subnetPrefix(n)
	id := randomHex(4)
	dir := e.TempDir(t, "cni")
	net := &CNINetwork{
		Name:     e.Prefix + "-net-" + id,
		Bridge:   "dcri" + id,
		Subnet:   prefix + "0/24",
		Gateway:  prefix + "1",
		ConfDir:  filepath.Join(dir, "net.d"),
		CacheDir: filepath.Join(dir, "cache"),
		IPAMDir:  filepath.Join(dir, "ipam"),
		prefix:   prefix,
		confFile: "10-test.conflist",
		env:      e,
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "del", net.Bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Errorf("remove bridge %s: %v: %s", net.Bridge, err, out)
		}
		// What a test's failed teardown left (its pods then removed through Docker, not
		// dockercri) must not stay on the host for the runs after it. The tests assert
		// their own teardowns before this runs; this only keeps the host clean.
		if removed := removeRulesOf(prefix); removed > 0 {
			t.Logf("removed %d iptables rules of %s left by a failed teardown", removed, net.Subnet)
		}
	})
	return net
}

// removeRulesOf deletes the IPv4 filter and nat rules that name an address starting
// with prefix ("10.123.7."), and the chains only those rules jumped to (the plugins'
// per-pod chains), returning how many rules went.
func removeRulesOf(prefix string) int {
	removed := 0
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			continue
		}
		var targets []string
		lines := strings.Split(string(out), "\n")
		for _, line := range lines {
			if !strings.HasPrefix(line, "-A ") || !namesAddrIn(line, prefix) {
				continue
			}
			// iptables-save quotes as a shell does: the shell splits the rule back.
			if exec.Command("sh", "-c", "iptables -t "+table+" -D "+strings.TrimPrefix(line, "-A ")).Run() == nil {
				removed++
			}
			if chain := jumpOf(line); strings.HasPrefix(chain, "CNI-") {
				targets = append(targets, chain)
			}
		}
		if len(targets) == 0 {
			continue
		}
		out, _ = exec.Command("iptables-save", "-t", table).Output()
		rules := strings.Split(string(out), "\n")
		for _, chain := range targets {
			if !slices.ContainsFunc(rules, func(l string) bool { return jumpOf(l) == chain }) {
				_ = exec.Command("iptables", "-t", table, "-F", chain).Run()
				_ = exec.Command("iptables", "-t", table, "-X", chain).Run()
			}
		}
	}
	return removed
}

// jumpOf is the chain an iptables-save rule jumps to ("" if none).
func jumpOf(rule string) string {
	f := strings.Fields(rule)
	if i := slices.Index(f, "-j"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}

// Args are the dockercri flags that use the network.
func (n *CNINetwork) Args() []string {
	bins := "/nonexistent," + CNIBinDir
	if len(n.testPlugins) > 0 {
		bins += "," + filepath.Dir(n.testPlugins[0].binary)
	}
	return []string{"--network-plugin=cni", "--cni-conf-dir", n.ConfDir, "--cni-cache-dir", n.CacheDir, "--cni-bin-dir", bins}
}

// Conflist is the network's config.
func (n *CNINetwork) Conflist() string {
	rng := fmt.Sprintf(`{"subnet": %q}`, n.Subnet)
	if n.RangeStart != "" {
		rng = fmt.Sprintf(`{"subnet": %q, "rangeStart": %q, "rangeEnd": %q}`, n.Subnet, n.RangeStart, n.End)
	}
	plugins := [][2]string{
		{"bridge", fmt.Sprintf(`{"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": %t, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[%s]], "dataDir": %q, "routes": [{"dst": "0.0.0.0/0"}]}}`, n.Bridge, n.IPMasq, rng, n.IPAMDir)},
		{"firewall", `{"type": "firewall"}`},
		{"portmap", `{"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}`},
		{"loopback", `{"type": "loopback"}`},
	}
	var chain []string
	for _, tp := range n.testPlugins {
		if tp.after == "" {
			chain = append(chain, tp.conf())
		}
	}
	for _, p := range plugins {
		chain = append(chain, p[1])
		for _, tp := range n.testPlugins {
			if tp.after == p[0] {
				chain = append(chain, tp.conf())
			}
		}
	}
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    %s
  ]
}
`, n.Name, strings.Join(chain, ",\n    "))
}

// TestPlugin is an instance of test/e2e/framework/testplugin in a network's chain: a
// plugin that passes results on and fails or holds a command when the test says.
type TestPlugin struct {
	// Dir is its state directory.
	Dir    string
	after  string
	binary string
}

// AddTestPlugin puts a test plugin into the network's chain right after the plugin of
// type after (bridge, firewall, portmap or loopback; "": first). Call it before Write.
func (n *CNINetwork) AddTestPlugin(t testing.TB, after string) *TestPlugin {
	t.Helper()
	bin, err := n.env.testPluginBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &TestPlugin{Dir: n.env.TempDir(t, "plugin"), after: after, binary: bin}
	n.testPlugins = append(n.testPlugins, p)
	return p
}

func (p *TestPlugin) conf() string {
	return fmt.Sprintf(`{"type": %q, "stateDir": %q}`, filepath.Base(p.binary), p.Dir)
}

// Fail makes every cmd (ADD, DEL, CHECK) of the plugin fail, or succeed again.
func (p *TestPlugin) Fail(t testing.TB, cmd string, fail bool) {
	t.Helper()
	path := filepath.Join(p.Dir, "fail-"+cmd)
	var err error
	if fail {
		err = os.WriteFile(path, nil, 0o644)
	} else if err = os.Remove(path); os.IsNotExist(err) {
		err = nil
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Hold makes the plugin's next cmd hold: it waits until Release (or until killed).
func (p *TestPlugin) Hold(t testing.TB, cmd string) {
	t.Helper()
	_ = os.Remove(filepath.Join(p.Dir, "held-"+cmd))
	_ = os.Remove(filepath.Join(p.Dir, "release-"+cmd))
	if err := os.WriteFile(filepath.Join(p.Dir, "hold-"+cmd), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Release lets a held cmd go on.
func (p *TestPlugin) Release(t testing.TB, cmd string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.Dir, "release-"+cmd), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Unhold takes back a Hold that no command took.
func (p *TestPlugin) Unhold(cmd string) { _ = os.Remove(filepath.Join(p.Dir, "hold-"+cmd)) }

// Held is the pid of the plugin holding cmd, 0 while none is.
func (p *TestPlugin) Held(cmd string) int {
	b, err := os.ReadFile(filepath.Join(p.Dir, "held-"+cmd))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// testPluginBinary builds the test plugin once per run, into a directory of its own
// (the network's --cni-bin-dir).
func (e *Env) testPluginBinary() (string, error) {
	e.pluginOnce.Do(func() {
		dir := filepath.Join(e.Tmp, "cni-bin")
		e.pluginBin = filepath.Join(dir, "dcri-test-plugin")
		cmd := exec.Command(goTool(), "build", "-o", e.pluginBin, "./test/e2e/framework/testplugin")
		cmd.Dir = e.Root
		if out, err := cmd.CombinedOutput(); err != nil {
			e.pluginErr = fmt.Errorf("build the test CNI plugin: %v\n%s", err, out)
		}
	})
	return e.pluginBin, e.pluginErr
}

// goTool is the go command: the one in PATH, else the one that built the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Write puts the config into the config directory.
func (n *CNINetwork) Write(t testing.TB) {
	t.Helper()
	n.WriteFile(t, n.confFile, n.Conflist())
}

// WriteFile writes content as the config directory's file name.
func (n *CNINetwork) WriteFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(n.ConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(n.ConfDir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(n.ConfDir, name)); err != nil {
		t.Fatal(err)
	}
}

// AllocatedIPs are the addresses host-local holds in the network.
func (n *CNINetwork) AllocatedIPs(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(n.IPAMDir, n.Name))
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range entries {
		if name := e.Name(); name != "lock" && !strings.HasPrefix(name, "last_reserved_ip") {
			ips = append(ips, name)
		}
	}
	return ips
}

// BridgePorts are the interfaces (the pods' veths) on the network's bridge.
func (n *CNINetwork) BridgePorts(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show", "master", n.Bridge).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "does not exist") || strings.Contains(string(out), "Cannot find device") {
			return nil
		}
		t.Fatalf("ip link: %v: %s", err, out)
	}
	var ports []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			ports = append(ports, strings.TrimSuffix(f[1], ":"))
		}
	}
	return ports
}

// IPTablesRules are the lines of iptables-save (IPv4, every table) that mention any of words.
func IPTablesRules(t testing.TB, words ...string) []string {
	t.Helper()
	out, err := exec.Command("iptables-save").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, w := range words {
			if w != "" && strings.Contains(line, w) {
				lines = append(lines, line)
				break
			}
		}
	}
	return lines
}
