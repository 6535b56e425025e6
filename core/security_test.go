package core

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// translate runs a container config with sc and resources through the translation.
func translate(t *testing.T, s *Service, sc *runtimeapi.LinuxContainerSecurityContext, r *runtimeapi.LinuxContainerResources) (*container.Config, *container.HostConfig, error) {
	t.Helper()
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
		Image:    &runtimeapi.ImageSpec{Image: "img"},
		Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: sc, Resources: r},
	}
	return s.containerDockerConfig(cfg, "sb", &container.HostConfig{}, "", "")
}

func TestSecurityContextTranslation(t *testing.T) {
	s := testService()
	profile := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		sc    *runtimeapi.LinuxContainerSecurityContext
		check func(c *container.Config, hc *container.HostConfig) bool
	}{
		{"image user", nil, func(c *container.Config, hc *container.HostConfig) bool { return c.User == "" }},
		{"uid and gid", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 2000}, SupplementalGroups: []int64{3, 4}},
			func(c *container.Config, hc *container.HostConfig) bool {
				return c.User == "1000:2000" && slices.Equal(hc.GroupAdd, []string{"3", "4"})
			}},
		{"uid 0", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 0}},
			func(c *container.Config, hc *container.HostConfig) bool { return c.User == "0" }},
		{"username", &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "nobody"},
			func(c *container.Config, hc *container.HostConfig) bool { return c.User == "nobody" }},
		{"capabilities", &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN", "CAP_SYS_TIME"}, DropCapabilities: []string{"ALL"}}},
			func(c *container.Config, hc *container.HostConfig) bool {
				return slices.Equal(hc.CapAdd, []string{"CAP_NET_ADMIN", "CAP_SYS_TIME"}) && slices.Equal(hc.CapDrop, []string{"ALL"})
			}},
		{"flags", &runtimeapi.LinuxContainerSecurityContext{NoNewPrivs: true, ReadonlyRootfs: true},
			func(c *container.Config, hc *container.HostConfig) bool {
				return hc.ReadonlyRootfs && slices.Contains(hc.SecurityOpt, "no-new-privileges")
			}},
		{"paths given", &runtimeapi.LinuxContainerSecurityContext{MaskedPaths: []string{"/proc/kcore"}, ReadonlyPaths: []string{"/proc/sys"}},
			func(c *container.Config, hc *container.HostConfig) bool {
				return slices.Equal(hc.MaskedPaths, []string{"/proc/kcore"}) && slices.Equal(hc.ReadonlyPaths, []string{"/proc/sys"})
			}},
		{"no paths means none", &runtimeapi.LinuxContainerSecurityContext{},
			func(c *container.Config, hc *container.HostConfig) bool {
				return hc.MaskedPaths != nil && len(hc.MaskedPaths) == 0 && hc.ReadonlyPaths != nil && len(hc.ReadonlyPaths) == 0
			}},
		{"no seccomp is unconfined", &runtimeapi.LinuxContainerSecurityContext{},
			func(c *container.Config, hc *container.HostConfig) bool {
				return slices.Contains(hc.SecurityOpt, "seccomp=unconfined")
			}},
		{"seccomp runtime default", &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}},
			func(c *container.Config, hc *container.HostConfig) bool { return len(hc.SecurityOpt) == 0 }},
		{"seccomp localhost", &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile}},
			func(c *container.Config, hc *container.HostConfig) bool {
				return slices.Contains(hc.SecurityOpt, `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`)
			}},
		{"deprecated seccomp paths", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "localhost/" + profile},
			func(c *container.Config, hc *container.HostConfig) bool {
				return slices.Contains(hc.SecurityOpt, `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`)
			}},
		{"deprecated docker/default", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "docker/default"},
			func(c *container.Config, hc *container.HostConfig) bool { return len(hc.SecurityOpt) == 0 }},
		{"apparmor", &runtimeapi.LinuxContainerSecurityContext{Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "my-profile"}, Seccomp: &runtimeapi.SecurityProfile{}},
			func(c *container.Config, hc *container.HostConfig) bool {
				return slices.Equal(hc.SecurityOpt, []string{"apparmor=my-profile"})
			}},
		{"apparmor unconfined, deprecated", &runtimeapi.LinuxContainerSecurityContext{ApparmorProfile: "unconfined", Seccomp: &runtimeapi.SecurityProfile{}},
			func(c *container.Config, hc *container.HostConfig) bool {
				return slices.Equal(hc.SecurityOpt, []string{"apparmor=unconfined"})
			}},
		{"selinux", &runtimeapi.LinuxContainerSecurityContext{SelinuxOptions: &runtimeapi.SELinuxOption{User: "u", Type: "t", Level: "s0:c1"}, Seccomp: &runtimeapi.SecurityProfile{}},
			func(c *container.Config, hc *container.HostConfig) bool {
				return slices.Equal(hc.SecurityOpt, []string{"label=user:u", "label=type:t", "label=level:s0:c1"})
			}},
		{"privileged", &runtimeapi.LinuxContainerSecurityContext{Privileged: true},
			func(c *container.Config, hc *container.HostConfig) bool {
				return hc.Privileged && c.Labels[labelPrivilegedFallback] == ""
			}},
	}
	for _, tc := range cases {
		c, hc, err := translate(t, s, tc.sc, nil)
		if err != nil || !tc.check(c, hc) {
			t.Errorf("%s: user %q caps +%v -%v opts %q masked %v ro %v privileged %v, err %v", tc.name, c.User, hc.CapAdd, hc.CapDrop, hc.SecurityOpt, hc.MaskedPaths, hc.ReadonlyPaths, hc.Privileged, err)
		}
	}

	for name, sc := range map[string]*runtimeapi.LinuxContainerSecurityContext{
		"group without user":     {RunAsGroup: &runtimeapi.Int64Value{Value: 1}},
		"missing seccomp file":   {Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/nonexistent.json"}},
		"unknown seccomp path":   {SeccompProfilePath: "bogus"},
		"apparmor without a ref": {Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost}},
	} {
		if _, _, err := translate(t, s, sc, nil); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

// On a host whose bounding set lacks capabilities, privileged is the closest it allows:
// the host's capabilities named one by one (Docker 25 and later refuse to drop one the
// host lacks, and ALL would ask for it).
func TestPrivilegedOnRestrictedHost(t *testing.T) {
	s := testService()
	s.host = hostLimits{bounding: []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_BPF"}, missing: []string{"CAP_SYS_RESOURCE"}}
	c, hc, err := translate(t, s, &runtimeapi.LinuxContainerSecurityContext{Privileged: true, Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Docker 20.10 does not know CAP_BPF: naming it fails.
	if hc.Privileged || !slices.Equal(hc.CapAdd, []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}) || !slices.Equal(hc.CapDrop, []string{"ALL"}) {
		t.Errorf("caps: privileged %v +%v -%v", hc.Privileged, hc.CapAdd, hc.CapDrop)
	}
	if !slices.Contains(hc.SecurityOpt, "seccomp=unconfined") || !slices.Contains(hc.SecurityOpt, "apparmor=unconfined") ||
		len(hc.MaskedPaths) != 0 || hc.MaskedPaths == nil || len(hc.ReadonlyPaths) != 0 || !slices.Contains(hc.DeviceCgroupRules, "a *:* rwm") {
		t.Errorf("confinement: opts %q masked %v ro %v rules %v", hc.SecurityOpt, hc.MaskedPaths, hc.ReadonlyPaths, hc.DeviceCgroupRules)
	}
	_, hc, _ = translate(t, s, &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"CHOWN", "NET_RAW"}}}, nil)
	if !slices.Equal(hc.CapAdd, []string{"CAP_SYS_ADMIN"}) || !slices.Equal(hc.CapDrop, []string{"ALL"}) {
		t.Errorf("add ALL on a restricted host: +%v -%v", hc.CapAdd, hc.CapDrop)
	}
	s.docker = versionedEngine("1.43")
	if _, hc, _ = translate(t, s, &runtimeapi.LinuxContainerSecurityContext{Privileged: true}, nil); !slices.Equal(hc.CapAdd, []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_BPF"}) {
		t.Errorf("privileged, Docker that knows CAP_BPF: +%v", hc.CapAdd)
	}
	// A bind of Docker's: the mounts are the CRI's alone, as ContainerStatus reports them.
	if !slices.Contains(hc.Binds, "/sys:/sys:rw,rprivate") || len(hc.Mounts) != 0 {
		t.Errorf("no writable /sys bind, or one among the CRI's mounts: binds %v, mounts %v", hc.Binds, hc.Mounts)
	}
	if !slices.ContainsFunc(hc.Devices, func(d container.DeviceMapping) bool { return d.PathOnHost == "/dev/null" }) {
		t.Errorf("host devices not given: %d devices", len(hc.Devices))
	}
	if !strings.Contains(c.Labels[labelPrivilegedFallback], "CAP_SYS_RESOURCE") {
		t.Errorf("fallback label = %q", c.Labels[labelPrivilegedFallback])
	}
}

func TestResourcesTranslation(t *testing.T) {
	s := testService()
	r := &runtimeapi.LinuxContainerResources{
		CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 256, MemoryLimitInBytes: 1 << 26, MemorySwapLimitInBytes: 1 << 26,
		CpusetCpus: "0-1", CpusetMems: "0", OomScoreAdj: 500,
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 0}},
	}
	_, hc, err := translate(t, s, nil, r)
	if err != nil {
		t.Fatal(err)
	}
	want := container.Resources{CPUPeriod: 100000, CPUQuota: 50000, CPUShares: 256, Memory: 1 << 26, MemorySwap: 1 << 26, CpusetCpus: "0-1", CpusetMems: "0"}
	if !reflect.DeepEqual(hc.Resources, want) || hc.OomScoreAdj != 500 {
		t.Errorf("resources = %+v oom %d", hc.Resources, hc.OomScoreAdj)
	}
	for name, bad := range map[string]*runtimeapi.LinuxContainerResources{
		"hugepages": {HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 1 << 21}}},
		"unified":   {Unified: map[string]string{"memory.high": "1000000"}},
	} {
		if _, _, err := translate(t, s, nil, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

func TestCgroupParent(t *testing.T) {
	for _, tc := range []struct{ in, driver, want string }{
		{"/kubepods/burstable/pod1", "cgroupfs", "/kubepods/burstable/pod1"},
		{"/kubepods/burstable/pod1", "systemd", "kubepods-burstable-pod1.slice"},
		{"kubepods-burstable-pod1.slice", "systemd", "kubepods-burstable-pod1.slice"},
		// The kubelet's systemd driver sends the slice's path; Docker (runc) takes its name.
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice", "systemd", "kubepods-burstable-pod1.slice"},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice", "cgroupfs", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"},
		{"kubepods-burstable-pod1.slice", "cgroupfs", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"},
		{"", "systemd", ""},
		{"-.slice", "systemd", "-.slice"},
		{"/test.slice", "systemd", "test.slice"}, // critest's
	} {
		if got, err := cgroupParent(tc.in, tc.driver); got != tc.want || err != nil {
			t.Errorf("cgroupParent(%q, %s) = %q, %v; want %q", tc.in, tc.driver, got, err, tc.want)
		}
	}
	// What systemd cannot have as a slice is refused, not left to fail each start.
	for _, in := range []string{"/", "/-kubepods/pod1", "kubepods--pod1.slice", "/kube pods/pod1", "pod/.slice"} {
		if got, err := cgroupParent(in, "systemd"); status.Code(err) != codes.InvalidArgument {
			t.Errorf("cgroupParent(%q, systemd) = %q, %v; want InvalidArgument", in, got, err)
		}
	}
}

func TestRecursiveReadOnlyMounts(t *testing.T) {
	dir := t.TempDir()
	rro := []*runtimeapi.Mount{{HostPath: dir, ContainerPath: "/x", Readonly: true, RecursiveReadOnly: true}}
	if ms, err := dockerMounts(rro, mountFeatures{recursiveReadOnly: true}, ""); err != nil || !ms[0].BindOptions.ReadOnlyForceRecursive {
		t.Errorf("supported: %v, %v", ms, err)
	}
	if _, err := dockerMounts(rro, mountFeatures{}, ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Docker without it: %v", err)
	}
	rro[0].Readonly = false
	if _, err := dockerMounts(rro, mountFeatures{recursiveReadOnly: true}, ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("not read-only: %v", err)
	}
	// A plain read-only mount stays non-recursive where Docker would make it recursive.
	ro := []*runtimeapi.Mount{{HostPath: dir, ContainerPath: "/x", Readonly: true}}
	if ms, err := dockerMounts(ro, mountFeatures{recursiveReadOnly: true}, ""); err != nil || !ms[0].BindOptions.ReadOnlyNonRecursive || ms[0].BindOptions.ReadOnlyForceRecursive {
		t.Errorf("plain read-only, Engine API 1.44: %v, %v", ms, err)
	}
	if ms, err := dockerMounts(ro, mountFeatures{}, ""); err != nil || ms[0].BindOptions.ReadOnlyNonRecursive {
		t.Errorf("plain read-only, older Engine API: %v, %v", ms, err)
	}
}

func TestSysctlsMustBeNamespaced(t *testing.T) {
	pod := &runtimeapi.NamespaceOption{}
	host := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE}
	for _, tc := range []struct {
		name string
		ns   *runtimeapi.NamespaceOption
		ok   bool
	}{
		{"net.ipv4.ip_forward", pod, true}, {"net/ipv4/ping_group_range", pod, true}, {"kernel.shm_rmid_forced", pod, true},
		{"kernel.msgmax", pod, true}, {"kernel.sem", pod, true}, {"fs.mqueue.msg_max", pod, true},
		{"net.ipv4.ip_forward", host, false}, {"kernel.shmmax", host, false},
		{"vm.swappiness", pod, false}, {"kernel.pid_max", pod, false},
	} {
		if err := checkSysctl(tc.name, tc.ns); (err == nil) != tc.ok {
			t.Errorf("%s (host namespaces %v): %v", tc.name, tc.ns == host, err)
		}
	}
}

// Image volumes mount an image's content read-only where Docker can, and are refused
// where it cannot, never ignored.
func TestImageMounts(t *testing.T) {
	img := []*runtimeapi.Mount{{ContainerPath: "/data", Image: &runtimeapi.ImageSpec{Image: "sha256:" + strings.Repeat("a", 64)}}}
	ms, err := dockerMounts(img, mountFeatures{image: true}, "")
	if err != nil || len(ms) != 1 || ms[0].Type != mount.TypeImage || ms[0].Source != img[0].Image.Image || !ms[0].ReadOnly || ms[0].ImageOptions != nil {
		t.Errorf("image mount: %v, %v", ms, err)
	}
	if got := criMounts(&container.HostConfig{Mounts: ms}); len(got) != 1 || got[0].GetImage().GetImage() != img[0].Image.Image || !got[0].GetReadonly() || got[0].GetHostPath() != "" {
		t.Errorf("image mount in the status: %v", got)
	}
	if _, err := dockerMounts(img, mountFeatures{}, ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Docker without image mounts: %v", err)
	}
	img[0].ImageSubPath = "etc/app"
	if ms, err := dockerMounts(img, mountFeatures{image: true, imageSubPath: true}, ""); err != nil || ms[0].ImageOptions == nil || ms[0].ImageOptions.Subpath != "etc/app" {
		t.Errorf("sub-path: %v, %v", ms, err)
	}
	if _, err := dockerMounts(img, mountFeatures{image: true}, ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Docker without image sub-paths: %v", err)
	}
	for _, bad := range []string{"../etc", "/etc"} {
		img[0].ImageSubPath = bad
		if _, err := dockerMounts(img, mountFeatures{image: true, imageSubPath: true}, ""); status.Code(err) != codes.InvalidArgument {
			t.Errorf("sub-path %q: %v", bad, err)
		}
	}
	img[0].ImageSubPath, img[0].HostPath = "", "/tmp"
	if _, err := dockerMounts(img, mountFeatures{image: true}, ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("image and host path: %v", err)
	}
}

// CDI devices become one Docker device request of the cdi driver, where Docker has it.
func TestCDIDeviceRequests(t *testing.T) {
	s := testService()
	s.docker = versionedEngine("1.51")
	hc := &container.HostConfig{}
	if err := s.applyCDIDevices([]*runtimeapi.CDIDevice{{Name: "nvidia.com/gpu=0"}, {Name: "vendor.com/fpga=all"}}, hc); err != nil ||
		len(hc.DeviceRequests) != 1 || hc.DeviceRequests[0].Driver != "cdi" || !slices.Equal(hc.DeviceRequests[0].DeviceIDs, []string{"nvidia.com/gpu=0", "vendor.com/fpga=all"}) {
		t.Errorf("device requests %v, %v", hc.DeviceRequests, err)
	}
	if err := s.applyCDIDevices([]*runtimeapi.CDIDevice{{Name: "gpu0"}}, &container.HostConfig{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unqualified name: %v", err)
	}
	s.docker = versionedEngine("1.41")
	if err := s.applyCDIDevices([]*runtimeapi.CDIDevice{{Name: "nvidia.com/gpu=0"}}, &container.HostConfig{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Docker 20.10: %v", err)
	}
}

// A Localhost seccomp profile is a readable regular file at an absolute path that
// parses as Docker's seccomp profile; anything else is InvalidArgument at create, not
// a failed start (Docker 20.10 checks it only then), a hang (a FIFO), an endless read
// (a device), or Docker's default profile in its place (an empty file).
func TestLocalhostSeccompProfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`)
	if opt, err := localSeccomp(good); err != nil || !strings.HasPrefix(opt, `seccomp={"defaultAction"`) {
		t.Errorf("a good profile: %q, %v", opt, err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relative, err := filepath.Rel(wd, good)
	if err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"relative to the working directory": relative,
		"missing":                           filepath.Join(dir, "nosuch.json"),
		"a directory":                       dir,
		"a FIFO":                            fifo,
		"a device, empty":                   "/dev/null",
		"a device, endless":                 "/dev/zero",
		"empty":                             write("empty.json", ""),
		"not JSON":                          write("text", "allow everything"),
		"JSON, not a profile":               write("list.json", `[1, 2, 3]`),
		"a profile Docker refuses":          write("both.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ERRNO"}]}`),
		"too large":                         write("big.json", `{"defaultAction":"SCMP_ACT_ALLOW","comment":"`+strings.Repeat("x", maxSeccompProfile)+`"}`),
	} {
		if _, err := localSeccomp(path); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s (%s): %v, want InvalidArgument", name, path, err)
		}
	}
}

// A mount's or device's host path relative to dockercri's working directory is
// refused, not resolved there.
func TestRelativeHostPaths(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	relative, err := filepath.Rel(wd, link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dockerMounts([]*runtimeapi.Mount{{HostPath: relative, ContainerPath: "/data"}}, mountFeatures{}, ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("mount of %q: %v, want InvalidArgument", relative, err)
	}
	s := testService()
	cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: "busybox"},
		Devices: []*runtimeapi.Device{{HostPath: "dev/null", ContainerPath: "/dev/x", Permissions: "rwm"}}}
	if _, _, err := s.containerDockerConfig(cfg, "sb", &container.HostConfig{}, "", ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("device dev/null: %v, want InvalidArgument", err)
	}
}

// Docker refuses a private bind of a directory holding its root: such a bind (/, /var,
// Docker's root itself) is asked rslave; any other stays private.
func TestPrivateBindAboveDockerRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "lib", "docker")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]mount.Propagation{
		"/":                                 mount.PropagationRSlave,
		dir:                                 mount.PropagationRSlave,
		root:                                mount.PropagationRSlave,
		filepath.Join(dir, "lib"):           mount.PropagationRSlave,
		filepath.Join(root, "../..", "lib"): mount.PropagationRSlave,
		t.TempDir():                         mount.PropagationRPrivate,
	} {
		ms, err := dockerMounts([]*runtimeapi.Mount{{HostPath: src, ContainerPath: "/host"}}, mountFeatures{}, root)
		if err != nil {
			t.Fatal(err)
		}
		if got := ms[0].BindOptions.Propagation; got != want {
			t.Errorf("private bind of %s with Docker's root at %s: %s, want %s", src, root, got, want)
		}
	}
	bidi := []*runtimeapi.Mount{{HostPath: "/", ContainerPath: "/host", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL}}
	if ms, _ := dockerMounts(bidi, mountFeatures{}, root); ms[0].BindOptions.Propagation != mount.PropagationRShared {
		t.Errorf("bidirectional bind: %s", ms[0].BindOptions.Propagation)
	}
}
