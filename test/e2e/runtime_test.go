//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Version, Status and RuntimeConfig report what Docker says of itself.
func TestVersionStatusRuntimeConfig(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	dv, err := env.Docker.Client.ServerVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	info, err := env.Docker.Client.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}

	v, err := rt.Version(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if v.GetRuntimeName() != "docker" || v.GetRuntimeVersion() != dv.Version || v.GetRuntimeApiVersion() != "v1" {
		t.Errorf("Version = %v, want docker %s, CRI v1", v, dv.Version)
	}

	st, err := rt.Status(ctx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{runtimeapi.RuntimeReady, runtimeapi.NetworkReady} {
		if c := condition(t, st.GetStatus(), typ); !c.GetStatus() {
			t.Errorf("%s = false (%s: %s), want true", typ, c.GetReason(), c.GetMessage())
		}
	}
	var verbose map[string]string
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &verbose); err != nil {
		t.Fatalf("verbose status info %q: %v", st.GetInfo(), err)
	}
	want := map[string]string{"dockerVersion": dv.Version, "storageDriver": info.Driver, "cgroupDriver": info.CgroupDriver}
	for k, w := range want {
		if verbose[k] != w {
			t.Errorf("verbose status %s = %q, want %q", k, verbose[k], w)
		}
	}
	if !regexp.MustCompile(`^1\.\d+$`).MatchString(verbose["apiVersion"]) {
		t.Errorf("verbose status apiVersion = %q, want the negotiated 1.x", verbose["apiVersion"])
	}

	rc, err := rt.RuntimeConfig(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	wantDriver := map[string]runtimeapi.CgroupDriver{"systemd": runtimeapi.CgroupDriver_SYSTEMD, "cgroupfs": runtimeapi.CgroupDriver_CGROUPFS}[info.CgroupDriver]
	if rc.GetLinux().GetCgroupDriver() != wantDriver {
		t.Errorf("RuntimeConfig cgroup driver = %v, docker uses %s", rc.GetLinux().GetCgroupDriver(), info.CgroupDriver)
	}

	if err := rt.UpdateRuntimeConfig(ctx(t), &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.244.3.0/24"}}); err != nil {
		t.Fatal(err)
	}
	st, err = rt.Status(ctx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.GetInfo()["info"], `"podCIDR":"10.244.3.0/24"`) {
		t.Errorf("pod CIDR not kept: verbose status %s", st.GetInfo()["info"])
	}
	err = rt.UpdateRuntimeConfig(ctx(t), &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "not-a-cidr"}})
	wantCode(t, err, codes.InvalidArgument, "UpdateRuntimeConfig with a malformed CIDR")
}

// NetworkReady follows the CNI config directory, with no restart.
func TestNetworkReadyFollowsCNIConfig(t *testing.T) {
	t.Parallel()
	confDir := env.TempDir(t, "cni")
	d := env.StartDockercri(t, "--network-plugin=cni", "--cni-conf-dir="+confDir)
	raw, _ := d.Raw(t)
	networkReady := func() *runtimeapi.RuntimeCondition {
		st, err := raw.Status(ctx(t), &runtimeapi.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return condition(t, st.GetStatus(), runtimeapi.NetworkReady)
	}
	if c := networkReady(); c.GetStatus() || c.GetReason() != "NetworkPluginNotReady" || c.GetMessage() == "" {
		t.Errorf("with no CNI config, NetworkReady = %v; want false, NetworkPluginNotReady, a message", c)
	}
	conf := `{"cniVersion":"1.0.0","name":"e2e","plugins":[{"type":"loopback"}]}`
	if err := os.WriteFile(filepath.Join(confDir, "10-e2e.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := networkReady(); !c.GetStatus() {
		t.Errorf("with a valid CNI config, NetworkReady = %v; want true", c)
	}
}

// The socket is mode 0660; a live one is refused to a second dockercri, a stale one
// (left by a kill -9) is replaced.
func TestSocketLiveAndStale(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	fi, err := os.Stat(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want a socket with 0660", fi.Mode())
	}

	out, err := env.RunCommand(d.Args...)
	if err == nil || !strings.Contains(out, "another process") {
		t.Errorf("second dockercri on a live socket: err %v, output %q; want a refusal", err, out)
	}
	if _, err := d.Runtime(t).Version(ctx(t), ""); err != nil {
		t.Errorf("the first dockercri stopped serving after the refused second one: %v", err)
	}

	d.Process().Kill()
	if _, err := os.Stat(d.Socket); err != nil {
		t.Fatalf("kill -9 should leave the socket file behind: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("restart over a stale socket: %v", err)
	}
	if _, err := d.Runtime(t).Version(ctx(t), ""); err != nil {
		t.Errorf("after replacing the stale socket: %v", err)
	}
}

// SIGTERM lets a call in flight finish with its own result, then removes the socket
// and exits 0.
func TestSIGTERMFinishesCallsInFlight(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("inflight"), "v1", true)
	proxy, err := framework.StartStallProxy(env.Open.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	d := env.StartDockercri(t, "--image-pull-progress-deadline=3s")
	images := d.Images(t)

	result := make(chan error, 1)
	go func() {
		_, err := images.PullImage(ctx(t), spec(proxy.Host+"/"+img.Repo+":"+img.Tag), nil, nil)
		result <- err
	}()
	if err := framework.WaitFor(time.Minute, func() error {
		if proxy.Stalls() == 0 {
			return os.ErrNotExist
		}
		return nil
	}); err != nil {
		t.Fatal("the pull never reached the registry")
	}
	if err := d.Process().Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = <-result
	wantCode(t, err, codes.DeadlineExceeded, "pull in flight at SIGTERM")
	if err := d.Process().Wait(30 * time.Second); err != nil {
		t.Errorf("dockercri after SIGTERM: %v, want exit 0", err)
	}
	if _, err := os.Stat(d.Socket); !os.IsNotExist(err) {
		t.Errorf("socket still there after SIGTERM: %v", err)
	}
}

// The command line: version, unknown flags, and cri-dockerd's flag names.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	out, err := env.RunCommand("version", "--docker-endpoint", env.Docker.Endpoint)
	if err != nil {
		t.Fatalf("dockercri version: %v\n%s", err, out)
	}
	for _, re := range []string{`(?m)^dockercri:\s+\S+`, `(?m)^git commit:\s+\S+`, `(?m)^CRI API:\s+v1$`, `(?m)^Docker API:\s+1\.\d+ `} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("dockercri version output lacks %s:\n%s", re, out)
		}
	}
	out, err = env.RunCommand("version", "--docker-endpoint", "unix:///nonexistent/docker.sock")
	if err != nil || !strings.Contains(out, "unreachable") {
		t.Errorf("dockercri version with Docker down: %v\n%s\nwant it to say Docker is unreachable", err, out)
	}
	out, err = env.RunCommand("--no-such-flag")
	if err == nil || !strings.Contains(out, "unknown flag") || !strings.Contains(out, "Usage:") {
		t.Errorf("unknown flag: %v\n%s\nwant an error with usage", err, out)
	}

	// A unit file written for cri-dockerd starts dockercri unchanged.
	dir := env.TempDir(t, "flags")
	d := env.StartDockercri(t,
		"--cri-dockerd-root-directory", filepath.Join(dir, "state"),
		"--pod-infra-container-image", "registry.k8s.io/pause:3.10",
		"--network-plugin", "cni", "--cni-bin-dir", "/opt/cni/bin,/usr/lib/cni",
		"--cni-conf-dir", filepath.Join(dir, "net.d"), "--cni-cache-dir", filepath.Join(dir, "cni-cache"),
		"--runtime-request-timeout", "2m", "--image-pull-progress-deadline", "1m",
		"--streaming-bind-addr", "127.0.0.1:0", "--log-level", "debug", "-v", "2")
	if _, err := d.Runtime(t).Version(ctx(t), ""); err != nil {
		t.Errorf("dockercri with cri-dockerd's flags: %v", err)
	}
}
