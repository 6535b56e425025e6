package core

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core/dockerview"
	"github.com/dockercri/dockercri/engine/enginetest"
	"github.com/dockercri/dockercri/network"
)

func TestNamesRoundTrip(t *testing.T) {
	sb := &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "1234-abcd", Attempt: 3}
	c := &runtimeapi.ContainerMetadata{Name: "app", Attempt: 7}
	if got := sandboxName(sb); got != "k8s_POD_web_default_1234-abcd_3" {
		t.Errorf("sandboxName = %s", got)
	}
	if got := containerName(sb, c); got != "k8s_app_web_default_1234-abcd_7" {
		t.Errorf("containerName = %s", got)
	}
	gotSB, err := parseSandboxName("/" + sandboxName(sb))
	if err != nil || !reflect.DeepEqual(gotSB, sb) {
		t.Errorf("parseSandboxName = %v, %v", gotSB, err)
	}
	gotC, err := parseContainerName("/" + containerName(sb, c) + "_deadbeef") // dockershim's random suffix
	if err != nil || gotC.GetName() != "app" || gotC.GetAttempt() != 7 {
		t.Errorf("parseContainerName = %v, %v", gotC, err)
	}
	for _, bad := range []string{"", "/nginx", "k8s_a_b", "x8s_POD_a_b_c_0", "k8s_POD_a_b_c_notanumber", "k8s_POD_a_b_c_-1"} {
		if _, err := parseSandboxName(bad); err == nil {
			t.Errorf("parseSandboxName(%q) succeeded", bad)
		}
	}
}

func TestLabelsRoundTrip(t *testing.T) {
	labels := map[string]string{"app": "web", "io.kubernetes.pod.name": "web"}
	annotations := map[string]string{"note": "x", "kubernetes.io/config.source": "file"}
	d := dockerLabels(labels, annotations)
	if d["annotation.note"] != "x" || d["app"] != "web" || d[labelCreated] == "" {
		t.Fatalf("dockerLabels = %v", d)
	}
	d[labelType], d[labelSandboxID], d[labelLogPath] = typeContainer, "abc", "/var/log/pods/x/0.log"
	gotL, gotA := criLabels(d)
	if !reflect.DeepEqual(gotL, labels) || !reflect.DeepEqual(gotA, annotations) {
		t.Errorf("criLabels = %v %v, want %v %v", gotL, gotA, labels, annotations)
	}
	// A sandbox's labels are the pod's: without the pause container's name, "POD".
	d = dockerLabels(labels, annotations)
	d[labelType], d[labelContainerName] = typeSandbox, sandboxContainerName
	if gotL, _ := criLabels(d); !reflect.DeepEqual(gotL, labels) {
		t.Errorf("sandbox labels read back as %v, want %v", gotL, labels)
	}
	if !matchSelector(gotL, map[string]string{"app": "web"}) || matchSelector(gotL, map[string]string{"app": "db"}) || !matchSelector(gotL, nil) {
		t.Error("matchSelector")
	}
}

func testService() *Service {
	cfg := config.Default()
	return &Service{cfg: cfg, docker: versionedEngine("1.41"), host: hostLimits{minOOMScoreAdj: -1000}}
}

// versionedEngine is a Docker whose negotiated API version is version.
func versionedEngine(version string) *enginetest.Engine {
	e := enginetest.New()
	e.APIVersion = version
	return e
}

func TestSandboxDockerConfig(t *testing.T) {
	s := testService()
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:    &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "ns", Uid: "u"},
		Hostname:    "web-0",
		Labels:      map[string]string{"app": "web"},
		Annotations: map[string]string{"a": "b"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/kubepods/besteffort/podu",
			Sysctls:      map[string]string{"net.ipv4.ip_forward": "1"},
		},
	}
	c, hc, err := s.sandboxDockerConfig(cfg, "pause:1", "runc", "cgroupfs")
	if err != nil {
		t.Fatal(err)
	}
	if c.Image != "pause:1" || c.Hostname != "web-0" || c.Labels[labelType] != typeSandbox || c.Labels[labelContainerName] != "POD" || c.Labels["annotation.a"] != "b" {
		t.Errorf("config = %+v", c)
	}
	if hc.NetworkMode != "none" || hc.IpcMode != "shareable" || hc.PidMode != "" || hc.Runtime != "runc" ||
		hc.CgroupParent != "/kubepods/besteffort/podu" || hc.Sysctls["net.ipv4.ip_forward"] != "1" || hc.OomScoreAdj != sandboxOOMScoreAdj {
		t.Errorf("host config = %+v", hc)
	}

	cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE}}
	cfg.Linux.SecurityContext.RunAsUser = &runtimeapi.Int64Value{Value: 65535}
	cfg.Linux.SecurityContext.ReadonlyRootfs = true
	c, hc, _ = s.sandboxDockerConfig(cfg, "pause:1", "", "cgroupfs")
	if c.User != "65535" || !hc.ReadonlyRootfs || hc.MaskedPaths != nil {
		t.Errorf("pod security context on the pause container: user %q read-only %v masked %v", c.User, hc.ReadonlyRootfs, hc.MaskedPaths)
	}
	if hc.NetworkMode != "host" || hc.PidMode != "host" || hc.IpcMode != "host" || c.Hostname != "" {
		t.Errorf("host namespaces: config %+v host config %+v", c, hc)
	}

	// A restricted host raises oom_score_adj to what it allows.
	s.host = hostLimits{minOOMScoreAdj: 0}
	if _, hc, _ = s.sandboxDockerConfig(cfg, "pause:1", "", "cgroupfs"); hc.OomScoreAdj != 0 {
		t.Errorf("restricted host: oom_score_adj %d, want 0", hc.OomScoreAdj)
	}
}

func TestContainerDockerConfig(t *testing.T) {
	s := testService()
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: "app"},
		Image:      &runtimeapi.ImageSpec{Image: "sha256:abc"},
		Command:    []string{"/bin/app"},
		WorkingDir: "/w",
		Envs:       []*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}, {Key: "B", Value: []byte("x=y")}},
		Mounts: []*runtimeapi.Mount{
			{HostPath: link, ContainerPath: "/data", Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
			{HostPath: dir, ContainerPath: "/shared", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL},
		},
		Devices:    []*runtimeapi.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/fuse"}},
		Stdin:      true,
		StdinOnce:  true,
		Tty:        true,
		StopSignal: runtimeapi.Signal_SIGNAL_SIGQUIT,
		Linux: &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
			CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 64 << 20, OomScoreAdj: -997, CpusetCpus: "0",
		}},
	}
	c, hc, err := s.containerDockerConfig(cfg, "sandboxid", &container.HostConfig{Runtime: "runc", Resources: container.Resources{CgroupParent: "/kubepods/podu"}}, "/logs/app/0.log", "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual([]string(c.Entrypoint), []string{"/bin/app"}) || c.Cmd != nil {
		t.Errorf("command only: entrypoint %v cmd %v, want the command and no CMD", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != "/w" || !reflect.DeepEqual(c.Env, []string{"A=1", "B=x=y"}) || !c.Tty || !c.OpenStdin || !c.StdinOnce || c.StopSignal != "SIGQUIT" {
		t.Errorf("config = %+v", c)
	}
	if c.Labels[labelSandboxID] != "sandboxid" || c.Labels[labelLogPath] != "/logs/app/0.log" || c.Labels[labelType] != typeContainer {
		t.Errorf("labels = %v", c.Labels)
	}
	if hc.NetworkMode != "container:sandboxid" || hc.IpcMode != "container:sandboxid" || hc.PidMode != "container:sandboxid" || hc.Runtime != "runc" || hc.CgroupParent != "/kubepods/podu" {
		t.Errorf("namespaces = net %s ipc %s pid %s", hc.NetworkMode, hc.IpcMode, hc.PidMode)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeBind, Source: dir, Target: "/data", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRSlave}},
		{Type: mount.TypeBind, Source: dir, Target: "/shared", BindOptions: &mount.BindOptions{Propagation: mount.PropagationRShared}},
	}
	if !reflect.DeepEqual(hc.Mounts, wantMounts) {
		t.Errorf("mounts = %+v, want %+v", hc.Mounts, wantMounts)
	}
	if len(hc.Devices) != 1 || hc.Devices[0].CgroupPermissions != "rwm" {
		t.Errorf("devices = %+v", hc.Devices)
	}
	r := hc.Resources
	if r.CPUShares != 512 || r.CPUQuota != 50000 || r.CPUPeriod != 100000 || r.Memory != 64<<20 || r.CpusetCpus != "0" || hc.OomScoreAdj != -997 {
		t.Errorf("resources = %+v oom %d", r, hc.OomScoreAdj)
	}

	// Args only: the image's ENTRYPOINT stays, args replace CMD.
	cfg.Command, cfg.Args = nil, []string{"--flag"}
	if c, _, _ = s.containerDockerConfig(cfg, "sandboxid", nil, "", ""); c.Entrypoint != nil || !reflect.DeepEqual([]string(c.Cmd), []string{"--flag"}) {
		t.Errorf("args only: entrypoint %v cmd %v", c.Entrypoint, c.Cmd)
	}
	// PID namespace modes; POD is the CRI's zero value, so no options share the pod's.
	for mode, want := range map[runtimeapi.NamespaceMode]container.PidMode{
		runtimeapi.NamespaceMode_CONTAINER: "", runtimeapi.NamespaceMode_POD: "container:sandboxid", runtimeapi.NamespaceMode_NODE: "host", runtimeapi.NamespaceMode_TARGET: "container:target",
	} {
		cfg.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: mode, TargetId: "target"}}
		if _, hc, err = s.containerDockerConfig(cfg, "sandboxid", nil, "", ""); err != nil || hc.PidMode != want {
			t.Errorf("pid mode %v: %s, %v; want %s", mode, hc.PidMode, err, want)
		}
	}
	// A missing mount source is refused.
	cfg.Mounts = []*runtimeapi.Mount{{HostPath: filepath.Join(dir, "missing"), ContainerPath: "/x"}}
	if _, _, err = s.containerDockerConfig(cfg, "sandboxid", nil, "", ""); err == nil {
		t.Error("a missing mount source was accepted")
	}
}

func TestContainerStateAndReason(t *testing.T) {
	for docker, want := range map[string]runtimeapi.ContainerState{
		"created": runtimeapi.ContainerState_CONTAINER_CREATED, "running": runtimeapi.ContainerState_CONTAINER_RUNNING,
		"paused": runtimeapi.ContainerState_CONTAINER_RUNNING, "exited": runtimeapi.ContainerState_CONTAINER_EXITED,
		"dead": runtimeapi.ContainerState_CONTAINER_EXITED, "weird": runtimeapi.ContainerState_CONTAINER_UNKNOWN,
	} {
		if got := containerState(docker); got != want {
			t.Errorf("containerState(%s) = %v, want %v", docker, got, want)
		}
	}
	for _, tc := range []struct {
		st   container.State
		want string
	}{
		{container.State{ExitCode: 0}, "Completed"},
		{container.State{ExitCode: 1}, "Error"},
		{container.State{ExitCode: 137, OOMKilled: true}, "OOMKilled"},
	} {
		if got, _ := exitReason("c", &tc.st); got != tc.want {
			t.Errorf("exitReason(%+v) = %s, want %s", tc.st, got, tc.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	got, err := resolvConf(&runtimeapi.DNSConfig{Servers: []string{"10.0.0.10", "10.0.0.11"}, Searches: []string{"a.svc", "svc"}, Options: []string{"ndots:5"}})
	if err != nil || string(got) != "nameserver 10.0.0.10\nnameserver 10.0.0.11\nsearch a.svc svc\noptions ndots:5\n" {
		t.Errorf("resolvConf = %q, %v", got, err)
	}
	host := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(host, []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := hostResolvConf
	hostResolvConf = host
	defer func() { hostResolvConf = old }()
	if got, err := resolvConf(nil); err != nil || string(got) != "nameserver 192.0.2.1\n" {
		t.Errorf("no DNS config: %q, %v; want the host's resolv.conf", got, err)
	}
}

func TestHostLimits(t *testing.T) {
	h := hostLimits{minOOMScoreAdj: 0}
	if h.clampOOMScoreAdj(-997) != 0 || h.clampOOMScoreAdj(500) != 500 {
		t.Error("clamp on a restricted host")
	}
	if (hostLimits{minOOMScoreAdj: -1000}).clampOOMScoreAdj(-997) != -997 {
		t.Error("clamp on an unrestricted host")
	}
	// The probe agrees with /proc about CAP_SYS_RESOURCE (bit 24 of CapBnd).
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "CapBnd:")
	bnd, err := strconv.ParseUint(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	h = probeHost(false)
	if got, want := h.hasCap("CAP_SYS_RESOURCE"), bnd&(1<<24) != 0; got != want {
		t.Errorf("probe says CAP_SYS_RESOURCE %v, CapBnd says %v", got, want)
	}
	if want := bnd&(1<<24) == 0; h.privilegedRestricted() != want || (h.minOOMScoreAdj >= 0) != want {
		t.Errorf("restricted host %v: privilegedRestricted %v, floor %d", want, h.privilegedRestricted(), h.minOOMScoreAdj)
	}
	if probeHost(true).minOOMScoreAdj < -999 {
		t.Error("--restrict-oom-score-adj did not raise the floor")
	}
}

// Only ports with a host port reach CNI: portmap fails on host port 0, which the
// kubelet sends for every containerPort a pod declares without one.
func TestCNIPortsNeedAHostPort(t *testing.T) {
	got := cniPorts(checkpointPorts([]*runtimeapi.PortMapping{
		{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80},
		{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 53, HostPort: 5353, HostIp: "127.0.0.1"},
		{Protocol: runtimeapi.Protocol_SCTP, ContainerPort: 9},
	}))
	want := []network.PortMapping{{HostPort: 5353, ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"}}
	if !slices.Equal(got, want) {
		t.Errorf("cniPorts = %v, want %v", got, want)
	}
}

// A container's image_ref is the repo digest of the repository the user named, where
// the image has several.
func TestRepoDigestOf(t *testing.T) {
	d := func(c string) string { return "@sha256:" + strings.Repeat(c, 64) }
	digests := []string{"127.0.0.1:5000/a/b" + d("1"), "busybox" + d("2"), "registry.k8s.io/pause" + d("3")}
	for name, want := range map[string]string{
		"busybox:1.36":                      "busybox" + d("2"),
		"docker.io/library/busybox":         "busybox" + d("2"),
		"registry.k8s.io/pause:3.10":        "registry.k8s.io/pause" + d("3"),
		"127.0.0.1:5000/a/b:v1":             "127.0.0.1:5000/a/b" + d("1"),
		"elsewhere.io/other:1":              "127.0.0.1:5000/a/b" + d("1"),
		"sha256:" + strings.Repeat("a", 64): "127.0.0.1:5000/a/b" + d("1"),
	} {
		if got := repoDigestOf(name, digests); got != want {
			t.Errorf("repoDigestOf(%q) = %q, want %q", name, got, want)
		}
	}
	if got := repoDigestOf("busybox", nil); got != "" {
		t.Errorf("no digests: %q", got)
	}
}

// refusingEngine is a Docker that refuses the API version dockercri speaks, as Docker
// does when it is too new for the client.
func refusingEngine() *enginetest.Engine {
	e := versionedEngine("1.51")
	e.Fail = func(method, _ string) error {
		if method == "ServerVersion" {
			return errors.New("Error response from daemon: client version 1.51 is too old. Minimum supported API version is 1.52, please upgrade your client to a newer version")
		}
		return nil
	}
	return e
}

// Status says, rather than failing every call later, when an engine is too old or too
// new for dockercri.
func TestEngineAPIProblem(t *testing.T) {
	s := testService()
	s.dockerVersion = dockerview.NewFact[types.Version](func() (uint64, bool) { return 0, false })
	s.docker = refusingEngine()
	if p := s.engineAPIProblem(context.Background(), "1.60"); !strings.Contains(p, "does not speak Engine API 1.51") || !strings.Contains(p, "Minimum supported API version is 1.52") {
		t.Errorf("too new: %q", p)
	}
	if p := s.engineAPIProblem(context.Background(), "1.40"); !strings.Contains(p, "older than 1.41") {
		t.Errorf("too old: %q", p)
	}
}

// Labels and annotations within the Kubernetes limits pass, as every admitted pod's do;
// beyond them they are InvalidArgument.
func TestCheckLabels(t *testing.T) {
	// A pod's name may be 253 characters long; the kubelet puts it in a label.
	ok := map[string]string{"io.kubernetes.pod.name": strings.Repeat("p", 253), "app": "x"}
	if err := checkLabels("pod", ok, map[string]string{"kubernetes.io/config.seen": "2026-12-01T10:00:00Z", "x": strings.Repeat("y", 100<<10)}); err != nil {
		t.Errorf("the kubelet's labels: %v", err)
	}
	for name, tc := range map[string][2]map[string]string{
		"annotations over 256 KiB": {nil, {"big": strings.Repeat("x", 300<<10)}},
		"labels over 256 KiB":      {{"app": strings.Repeat("v", 300<<10)}, nil},
		"label key not qualified":  {{"bad key": "v"}, nil},
	} {
		if err := checkLabels("pod", tc[0], tc[1]); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A NUL byte in a path or an argument is refused at create, not left to fail the start.
func TestNULRefused(t *testing.T) {
	valid := func() *runtimeapi.ContainerConfig {
		return &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: "busybox"}}
	}
	if err := validateContainerConfig(valid()); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	for name, edit := range map[string]func(*runtimeapi.ContainerConfig){
		"command":     func(c *runtimeapi.ContainerConfig) { c.Command = []string{"sh\x00"} },
		"args":        func(c *runtimeapi.ContainerConfig) { c.Args = []string{"-c", "a\x00b"} },
		"working dir": func(c *runtimeapi.ContainerConfig) { c.WorkingDir = "/a\x00" },
		"log path":    func(c *runtimeapi.ContainerConfig) { c.LogPath = "c/0\x00.log" },
		"mount": func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/m", HostPath: "/h\x00"}}
		},
		"device": func(c *runtimeapi.ContainerConfig) {
			c.Devices = []*runtimeapi.Device{{ContainerPath: "/dev/x\x00", HostPath: "/dev/null"}}
		},
	} {
		c := valid()
		edit(c)
		if err := validateContainerConfig(c); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s with a NUL byte: %v, want InvalidArgument", name, err)
		}
	}
	sb := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}, Hostname: "h\x00"}
	if err := validateSandboxConfig(sb); status.Code(err) != codes.InvalidArgument {
		t.Errorf("hostname with a NUL byte: %v, want InvalidArgument", err)
	}
}
