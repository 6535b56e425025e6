//go:build critest

package critest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// TestCritest runs the whole CRI validation suite but the specs CRITEST_SKIP names (a
// regular expression; the Makefile gives each one's reason), then checks that the suite
// left nothing of its pods behind: no IP allocated, no CNI cache entry, no iptables rule.
func TestCritest(t *testing.T) {
	dir := env.TempDir(t, "critest")
	reg, docker := framework.StartServingDockerd(t, dir, servedNames)
	start := time.Now()
	framework.PushSuiteImages(t, docker.Client, reg, &framework.ImageBuilder{Dir: framework.CacheDir(t, "images")}, suiteImages())
	t.Logf("suite images built and pushed in %s", time.Since(start).Round(time.Second))

	net := env.NewCNINetwork(t)
	net.Write(t)
	// The suite's own default pod infra image, served like the others.
	cri := env.NewDockercri(t, append([]string{"--docker-endpoint", docker.Endpoint, "--pod-infra-container-image", "registry.k8s.io/pause:3.10"}, net.Args()...)...)
	if err := cri.Start(); err != nil {
		t.Fatal(err)
	}

	args := []string{
		"--runtime-endpoint", cri.Endpoint, "--image-endpoint", cri.Endpoint,
		"--ginkgo.no-color", "--ginkgo.timeout", "50m",
		"--ginkgo.junit-report", filepath.Join(dir, "junit.xml"),
	}
	if skip := os.Getenv("CRITEST_SKIP"); skip != "" {
		args = append(args, "--ginkgo.skip", skip)
	}
	if focus := os.Getenv("CRITEST_FOCUS"); focus != "" {
		args = append(args, "--ginkgo.focus", focus)
	}
	cmd := exec.Command(os.Getenv("CRITEST_BIN"), args...)
	// critest opens host paths and temp dirs of its own; it runs in the test's directory.
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start = time.Now()
	err := cmd.Run()
	t.Logf("critest ran in %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Errorf("critest %s: %v\ndockercri log (tail):\n%s", strings.Join(args, " "), err, framework.Tail(cri.Log(), 40))
	}
	reportSkips(t, filepath.Join(dir, "junit.xml"))

	if ips := net.AllocatedIPs(t); len(ips) > 0 {
		t.Errorf("IPs still allocated after the suite: %v", ips)
	}
	if entries, _ := os.ReadDir(filepath.Join(net.CacheDir, "results")); len(entries) > 0 {
		t.Errorf("CNI cache entries left after the suite: %d", len(entries))
	}
	if rules := framework.IPTablesRules(t, net.AddrPrefix()); len(rules) > 0 {
		t.Errorf("iptables rules of the suite's pods left:\n%s", strings.Join(rules, "\n"))
	}
}

// reportSkips prints every spec the suite skipped with its reason: the ones the suite
// skipped itself (a feature dockercri does not advertise, a host without AppArmor) and
// those CRITEST_SKIP names.
func reportSkips(t *testing.T, path string) {
	cases, err := framework.ReadJUnit(path)
	if err != nil {
		t.Errorf("critest's report: %v", err)
		return
	}
	for _, c := range cases {
		if c.Outcome == "skipped" {
			t.Logf("skipped: %s: %s", c.Name, c.Message)
		}
	}
}

// The README's first try of dockercri, crictl built by `make crictl`, works: info says
// the runtime is ready, version names it, and the lists answer.
func TestCrictl(t *testing.T) {
	bin := os.Getenv("CRICTL_BIN")
	cri := env.StartDockercri(t)
	crictl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"--runtime-endpoint", cri.Endpoint, "--image-endpoint", cri.Endpoint}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("crictl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := crictl("info"); !strings.Contains(out, `"type": "RuntimeReady"`) || !strings.Contains(out, `"status": true`) {
		t.Errorf("crictl info:\n%s", out)
	}
	if out := crictl("version"); !strings.Contains(out, "RuntimeName:  docker") || !strings.Contains(out, "RuntimeApiVersion:  v1") {
		t.Errorf("crictl version:\n%s", out)
	}
	crictl("pods")
	crictl("ps", "-a")
	crictl("images")
}
