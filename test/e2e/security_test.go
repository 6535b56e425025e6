//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/versions"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// secPod is a pod for the security tests, with busybox pulled.
type secPod struct {
	*pod
	d   *framework.Dockercri
	ref string
}

func newSecPod(t *testing.T, name string) *secPod {
	t.Helper()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	return &secPod{pod: runPod(t, rt, env.SandboxConfig(t, name)), d: d, ref: pullBusybox(t, d.Images(t))}
}

// run starts a sleeping container with sc (and resources r) and returns its id.
func (p *secPod) run(t *testing.T, name string, sc *runtimeapi.LinuxContainerSecurityContext, r *runtimeapi.LinuxContainerResources) string {
	t.Helper()
	c := framework.ContainerConfig(name, p.ref, "exec sleep 3600")
	if sc != nil {
		if sc.NamespaceOptions == nil {
			sc.NamespaceOptions = c.Linux.SecurityContext.NamespaceOptions
		}
		c.Linux.SecurityContext = sc
	}
	c.Linux.Resources = r
	return p.start(t, c)
}

// sh runs script in the container and returns its stdout; a non-zero exit fails.
func (p *secPod) sh(t *testing.T, id, script string) string {
	t.Helper()
	out, err := execSync(t, p.d, id, []string{"sh", "-c", script}, 20*time.Second)
	if err != nil {
		t.Fatalf("%q: %v", script, err)
	}
	if out.ExitCode != 0 {
		t.Fatalf("%q: exit %d: %s%s", script, out.ExitCode, out.Stdout, out.Stderr)
	}
	return string(out.Stdout)
}

// capEff is the effective capability mask the container's processes get.
func (p *secPod) capEff(t *testing.T, id string) uint64 {
	t.Helper()
	out := p.sh(t, id, "grep CapEff /proc/self/status")
	v, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "CapEff:")), 16, 64)
	if err != nil {
		t.Fatalf("CapEff %q: %v", out, err)
	}
	return v
}

// grantable is the capability mask Docker's "ALL" can give here: the host's bounding
// set, of the capabilities this Docker knows (before Engine API 1.42, Docker 23, those up
// to CAP_AUDIT_READ).
func grantable(t *testing.T) uint64 {
	mask := ^uint64(0)
	if versions.LessThan(env.Docker.Client.ClientVersion(), "1.42") {
		mask = 1<<38 - 1
	}
	return hostCapBnd(t) & mask
}

// hostCapBnd is this host's capability bounding set.
func hostCapBnd(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "CapBnd:")
	v, err := strconv.ParseUint(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Users, groups, capabilities, no_new_privs, read-only rootfs and masked paths, seen
// from inside the containers.
func TestSecurityContextFromInside(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "sec")
	user := p.run(t, "user", &runtimeapi.LinuxContainerSecurityContext{
		RunAsUser: &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 2000}, SupplementalGroups: []int64{3000},
		NoNewPrivs: true, ReadonlyRootfs: true,
	}, nil)
	if got := strings.TrimSpace(p.sh(t, user, "id -u; id -g; id -G")); got != "1000\n2000\n2000 3000" {
		t.Errorf("id = %q", got)
	}
	if out := p.sh(t, user, "grep NoNewPrivs /proc/self/status; touch /rootfs-write 2>&1 || echo refused"); !strings.Contains(out, "NoNewPrivs:\t1") || !strings.Contains(out, "refused") {
		t.Errorf("no_new_privs and read-only rootfs: %q", out)
	}
	st, err := p.rt.ContainerStatus(ctx(t), user, false)
	if err != nil {
		t.Fatal(err)
	}
	if u := st.GetStatus().GetUser().GetLinux(); u.GetUid() != 1000 || u.GetGid() != 2000 || !containsInt(u.GetSupplementalGroups(), 3000) {
		t.Errorf("status user = %v", u)
	}

	const netAdmin = 1 << 12
	only := p.run(t, "only", &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"NET_ADMIN"}}}, nil)
	if got := p.capEff(t, only); got != netAdmin {
		t.Errorf("drop ALL, add NET_ADMIN: CapEff %#x, want %#x", got, netAdmin)
	}
	all := p.run(t, "all", &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"NET_ADMIN"}}}, nil)
	if got, want := p.capEff(t, all), grantable(t)&^netAdmin; got != want {
		t.Errorf("add ALL, drop NET_ADMIN: CapEff %#x, want %#x", got, want)
	}
	masked := p.run(t, "masked", &runtimeapi.LinuxContainerSecurityContext{MaskedPaths: []string{"/etc/hostname"}, ReadonlyPaths: []string{"/tmp"}}, nil)
	if out := p.sh(t, masked, "wc -c < /etc/hostname; touch /tmp/x 2>&1 || echo ro"); !strings.HasPrefix(out, "0\n") || !strings.Contains(out, "ro") {
		t.Errorf("masked and read-only paths: %q", out)
	}
}

func containsInt(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// PID and IPC namespace modes, seen from inside: who is PID 1, whose IPC namespace.
func TestNamespaceModes(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "ns")
	mode := func(pid, ipc runtimeapi.NamespaceMode, target string) *runtimeapi.LinuxContainerSecurityContext {
		return &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: pid, Ipc: ipc, TargetId: target}}
	}
	own := p.run(t, "own", mode(runtimeapi.NamespaceMode_CONTAINER, runtimeapi.NamespaceMode_POD, ""), nil)
	pod := p.run(t, "pod", mode(runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_CONTAINER, ""), nil)
	node := p.run(t, "node", mode(runtimeapi.NamespaceMode_NODE, runtimeapi.NamespaceMode_NODE, ""), nil)
	target := p.run(t, "target", mode(runtimeapi.NamespaceMode_TARGET, runtimeapi.NamespaceMode_POD, own), nil)

	cmdline := func(id string) string { return strings.ReplaceAll(p.sh(t, id, "cat /proc/1/cmdline"), "\x00", " ") }
	hostInit, err := os.ReadFile("/proc/1/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ id, want string }{
		"CONTAINER": {own, "sleep 3600 "},
		"POD":       {pod, "/pause "},
		"NODE":      {node, strings.ReplaceAll(string(hostInit), "\x00", " ")},
		"TARGET":    {target, "sleep 3600 "},
	} {
		if got := cmdline(c.id); got != c.want {
			t.Errorf("PID mode %s: PID 1 is %q, want %q", name, got, c.want)
		}
	}
	if out := p.sh(t, target, "ps -o args"); strings.Count(out, "sleep 3600") != 2 {
		t.Errorf("TARGET does not see the target's processes:\n%s", out)
	}

	ipcNS := func(id string) string { return strings.TrimSpace(p.sh(t, id, "readlink /proc/self/ns/ipc")) }
	hostIPC, _ := os.Readlink("/proc/self/ns/ipc")
	insp, err := env.Docker.Client.ContainerInspect(ctx(t), p.id)
	if err != nil {
		t.Fatal(err)
	}
	pauseIPC, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", insp.State.Pid))
	if got := ipcNS(own); got != pauseIPC {
		t.Errorf("IPC POD: %s, pause has %s", got, pauseIPC)
	}
	if got := ipcNS(pod); got == pauseIPC || got == hostIPC {
		t.Errorf("IPC CONTAINER: %s, shared with the pod or the host", got)
	}
	if got := ipcNS(node); got != hostIPC {
		t.Errorf("IPC NODE: %s, host has %s", got, hostIPC)
	}
}

// Resource limits reach the container's cgroup files, UpdateContainerResources changes
// them while it runs, and a container over its memory limit is OOMKilled with 137.
func TestResourcesAndOOMKill(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "res")
	id := p.run(t, "limited", nil, &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512, MemoryLimitInBytes: 64 << 20})
	read := func() string {
		return p.sh(t, id, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/memory/memory.limit_in_bytes")
	}
	if got := read(); got != fmt.Sprintf("50000\n512\n%d\n", 64<<20) {
		t.Errorf("cgroup files = %q", got)
	}
	if err := p.rt.UpdateContainerResources(ctx(t), id, &runtimeapi.ContainerResources{Linux: &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 20000, CpuShares: 256, MemoryLimitInBytes: 128 << 20}}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != fmt.Sprintf("20000\n256\n%d\n", 128<<20) {
		t.Errorf("cgroup files after update = %q", got)
	}

	c := framework.ContainerConfig("oom", p.ref, "dd if=/dev/zero of=/dev/null bs=128M count=1")
	c.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 32 << 20, MemorySwapLimitInBytes: 32 << 20}
	oom := p.start(t, c)
	st := waitExited(t, p.rt, oom)
	// Docker learns of the OOM kill from an event of its own, which on a loaded machine
	// may come after the exit; the status follows Docker's oom event (Docker 20.10 never
	// marks such a container OOMKilled itself: dockercri's view does, on that event).
	_ = framework.WaitFor(10*time.Second, func() error {
		resp, err := p.rt.ContainerStatus(ctx(t), oom, false)
		if err != nil {
			return err
		}
		if st = resp.GetStatus(); st.GetReason() != "OOMKilled" {
			return fmt.Errorf("reason %q", st.GetReason())
		}
		return nil
	})
	if st.GetExitCode() != 137 || st.GetReason() != "OOMKilled" {
		t.Errorf("over its memory limit: exit %d reason %q, want 137 OOMKilled", st.GetExitCode(), st.GetReason())
	}
}

// A seccomp profile from a file blocks sethostname (with ENOSYS, to tell it from a
// missing capability); without it the same container may call it.
func TestSeccompLocalhostProfile(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "seccomp")
	profile := filepath.Join(env.TempDir(t, "seccomp"), "no-sethostname.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	caps := &runtimeapi.Capability{AddCapabilities: []string{"SYS_ADMIN"}}
	blocked := p.run(t, "blocked", &runtimeapi.LinuxContainerSecurityContext{Capabilities: caps, Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile}}, nil)
	free := p.run(t, "free", &runtimeapi.LinuxContainerSecurityContext{Capabilities: caps, Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}}, nil)
	if out := p.sh(t, blocked, "hostname blocked 2>&1 || true"); !strings.Contains(out, "not implemented") {
		t.Errorf("sethostname under the profile: %q, want ENOSYS", out)
	}
	// Containers join the pause container's UTS namespace: the name changes for the pod.
	if out := p.sh(t, free, "hostname free-to-change && hostname"); out != "free-to-change\n" {
		t.Errorf("sethostname unconfined: %q", out)
	}
}

// Privileged containers run on this host too (whose bounding set lacks capabilities):
// every capability it has, a writable /sys, devices, mounts; and a mount made on the host
// after start reaches a HOST_TO_CONTAINER mount, one made in a BIDIRECTIONAL mount
// reaches the host. ContainerStatus reports exactly the CRI's mounts, each with its
// propagation (not the /sys that dockercri binds itself on a restricted host).
func TestPrivilegedAndMountPropagation(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "priv")
	shared := env.TempDir(t, "shared")
	mustRun(t, "mount", "-t", "tmpfs", "-o", "size=1m", "dcri-e2e", shared)
	t.Cleanup(func() { _ = syscall.Unmount(shared, syscall.MNT_DETACH) })
	mustRun(t, "mount", "--make-rshared", shared)
	for _, d := range []string{"h2c", "bidi", "private"} {
		if err := os.Mkdir(filepath.Join(shared, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := framework.ContainerConfig("priv", p.ref, "exec sleep 3600")
	c.Linux.SecurityContext.Privileged = true
	c.Mounts = []*runtimeapi.Mount{
		{HostPath: filepath.Join(shared, "h2c"), ContainerPath: "/h2c", Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{HostPath: filepath.Join(shared, "bidi"), ContainerPath: "/bidi", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL},
		{HostPath: filepath.Join(shared, "private"), ContainerPath: "/private", Readonly: true},
	}
	id := p.start(t, c)
	st, err := p.rt.ContainerStatus(ctx(t), id, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.GetStatus().GetMounts(); len(got) != len(c.Mounts) {
		t.Errorf("ContainerStatus mounts %v, want exactly the CRI's %v", got, c.Mounts)
	} else {
		for i, want := range c.Mounts {
			if m := got[i]; m.GetContainerPath() != want.ContainerPath || m.GetHostPath() != want.HostPath || m.GetReadonly() != want.Readonly || m.GetPropagation() != want.Propagation {
				t.Errorf("ContainerStatus mount %d: %v, want %v", i, m, want)
			}
		}
	}

	if got, want := p.capEff(t, id), grantable(t); got != want {
		t.Errorf("privileged CapEff %#x, want the host's bounding set %#x", got, want)
	}
	// /sys writable; a host device a plain container lacks, usable (the device cgroup).
	if out := p.sh(t, id, "grep -c ' /sys .* rw,' /proc/mounts; head -c 0 /dev/full && echo dev-ok; test -c /dev/loop-control && echo loop"); out != "1\ndev-ok\nloop\n" {
		t.Errorf("privileged /sys and devices: %q", out)
	}
	if restrictedHost(t) {
		st, err := p.rt.ContainerStatus(ctx(t), id, true)
		if err != nil || !strings.Contains(st.GetInfo()["info"], `"privileged":"restricted host`) {
			t.Errorf("the status does not say privileged was narrowed to the host's capabilities: %v", err)
		}
	}

	// Host → container.
	h2c := filepath.Join(shared, "h2c", "late")
	if err := os.Mkdir(h2c, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mount", "-t", "tmpfs", "-o", "size=1m", "dcri-e2e-late", h2c)
	t.Cleanup(func() { _ = syscall.Unmount(h2c, syscall.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(h2c, "from-host"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := p.sh(t, id, "cat /h2c/late/from-host"); out != "hi\n" {
		t.Errorf("host mount after start not seen through HOST_TO_CONTAINER: %q", out)
	}
	// Container → host.
	p.sh(t, id, "mkdir /bidi/inner && mount -t tmpfs inner /bidi/inner && echo yo > /bidi/inner/from-container")
	inner := filepath.Join(shared, "bidi", "inner")
	t.Cleanup(func() { _ = syscall.Unmount(inner, syscall.MNT_DETACH) })
	if b, err := os.ReadFile(filepath.Join(inner, "from-container")); err != nil || string(b) != "yo\n" {
		t.Errorf("container mount not seen on the host through BIDIRECTIONAL: %q, %v", b, err)
	}
}

func mustRun(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := execCommand(argv...); err != nil {
		t.Fatalf("%v: %v: %s", argv, err, out)
	}
}

// AppArmor profiles reach the container where the host has AppArmor.
func TestAppArmorProfile(t *testing.T) {
	t.Parallel()
	if b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err != nil || strings.TrimSpace(string(b)) != "Y" {
		t.Skipf("probe: the host has no AppArmor (/sys/module/apparmor/parameters/enabled: %q, %v)", b, err)
	}
	p := newSecPod(t, "apparmor")
	def := p.run(t, "default", &runtimeapi.LinuxContainerSecurityContext{Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}}, nil)
	if out := p.sh(t, def, "cat /proc/self/attr/current"); !strings.Contains(out, "docker-default") {
		t.Errorf("RuntimeDefault AppArmor profile: %q", out)
	}
	unconfined := p.run(t, "unconfined", &runtimeapi.LinuxContainerSecurityContext{Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}}, nil)
	if out := p.sh(t, unconfined, "cat /proc/self/attr/current"); !strings.Contains(out, "unconfined") {
		t.Errorf("Unconfined AppArmor profile: %q", out)
	}
}

// SELinux labels reach the container where the host has SELinux.
func TestSELinuxOptions(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err != nil {
		t.Skipf("probe: the host has no SELinux (%v)", err)
	}
	p := newSecPod(t, "selinux")
	id := p.run(t, "labelled", &runtimeapi.LinuxContainerSecurityContext{SelinuxOptions: &runtimeapi.SELinuxOption{Level: "s0:c1,c2"}}, nil)
	if out := p.sh(t, id, "cat /proc/self/attr/current"); !strings.Contains(out, "s0:c1,c2") {
		t.Errorf("SELinux level: %q", out)
	}
}

// Read-only mounts: the CRI's plain readonly leaves the mounts below writable on every
// engine (Docker 25 and later would make it recursive); recursive_read_only is
// advertised, and honoured, exactly where the engine (Engine API 1.44) and the kernel
// (mount_setattr, Linux 5.12) can do it, and refused with InvalidArgument elsewhere.
func TestReadOnlyMounts(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "ro")
	dir := env.TempDir(t, "romount")
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mount", "-t", "tmpfs", "-o", "size=1m", "dcri-e2e-ro", sub)
	t.Cleanup(func() { _ = syscall.Unmount(sub, syscall.MNT_DETACH) })

	st, err := p.rt.Status(ctx(t), false)
	if err != nil {
		t.Fatal(err)
	}
	var rro bool
	for _, h := range st.GetRuntimeHandlers() {
		if h.GetName() == "" {
			rro = h.GetFeatures().GetRecursiveReadOnlyMounts()
		}
	}
	v, err := env.Docker.Client.ServerVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	var major, minor int
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", release, err)
	}
	canRRO := versions.GreaterThanOrEqualTo(v.APIVersion, "1.44") && (major > 5 || major == 5 && minor >= 12)
	if rro != canRRO {
		t.Errorf("recursive read-only mounts advertised %v on Engine API %s, kernel %s; want %v", rro, v.APIVersion, release, canRRO)
	}

	plain := framework.ContainerConfig("plain", p.ref, "exec sleep 3600")
	plain.Mounts = []*runtimeapi.Mount{{HostPath: dir, ContainerPath: "/ro", Readonly: true}}
	id := p.start(t, plain)
	if out := p.sh(t, id, "touch /ro/top 2>/dev/null && echo top-writable; touch /ro/sub/below && echo below-writable"); out != "below-writable\n" {
		t.Errorf("plain read-only mount: %q, want the mount read-only and the one below writable", out)
	}

	rc := framework.ContainerConfig("recursive", p.ref, "exec sleep 3600")
	rc.Mounts = []*runtimeapi.Mount{{HostPath: dir, ContainerPath: "/ro", Readonly: true, RecursiveReadOnly: true}}
	if !canRRO {
		_, err := p.rt.CreateContainer(ctx(t), p.id, rc, p.cfg)
		wantCode(t, err, codes.InvalidArgument, "recursive read-only mount where it cannot be")
		return
	}
	id = p.start(t, rc)
	if out := p.sh(t, id, "touch /ro/top 2>/dev/null && echo top-writable; touch /ro/sub/below2 2>/dev/null && echo below-writable; echo done"); out != "done\n" {
		t.Errorf("recursive read-only mount: %q, want nothing writable", out)
	}
}

// CDI devices (how device plugins hand out devices) reach the container through the
// engine's CDI device requests, from the CDI spec of a fake device in a directory of
// the test's own, where the engine has them (Engine API 1.44); elsewhere the request is
// InvalidArgument, never ignored.
func TestCDIDevices(t *testing.T) {
	t.Parallel()
	specs := env.TempDir(t, "cdi")
	spec := `{"cdiVersion": "0.6.0", "kind": "dockercri.test/fake", "devices": [{"name": "dev0", "containerEdits": {"env": ["FAKE_DEVICE=dev0"]}}]}`
	if err := os.WriteFile(filepath.Join(specs, "fake.json"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := env.Docker.Client.ServerVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if versions.LessThan(v.APIVersion, "1.44") {
		p := newSecPod(t, "nocdi")
		c := framework.ContainerConfig("gpu", p.ref, "exec sleep 3600")
		c.CDIDevices = []*runtimeapi.CDIDevice{{Name: "dockercri.test/fake=dev0"}}
		_, err := p.rt.CreateContainer(ctx(t), p.id, c, p.cfg)
		wantCode(t, err, codes.InvalidArgument, "CDI device on Engine API "+v.APIVersion)
		return
	}
	docker, err := framework.StartPrivateDockerd(env.TempDir(t, "dockerd"), "--cdi-spec-dir", specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = docker.Stop() })
	d := env.StartDockercri(t, "--docker-endpoint", docker.Endpoint)
	p := &secPod{pod: runPod(t, d.Runtime(t), env.SandboxConfig(t, "cdi")), d: d, ref: pullBusybox(t, d.Images(t))}
	c := framework.ContainerConfig("gpu", p.ref, "exec sleep 3600")
	c.CDIDevices = []*runtimeapi.CDIDevice{{Name: "dockercri.test/fake=dev0"}}
	cid := p.start(t, c)
	// The edits are the container process's (an exec gets the container's config).
	if out := p.sh(t, cid, "tr '\\0' '\\n' < /proc/1/environ | grep FAKE_DEVICE"); out != "FAKE_DEVICE=dev0\n" {
		t.Errorf("the CDI device's edits did not reach the container: %q", out)
	}
	c = framework.ContainerConfig("nosuch", p.ref, "exec sleep 3600")
	c.CDIDevices = []*runtimeapi.CDIDevice{{Name: "dockercri.test/fake=nosuch"}}
	if id, err := p.rt.CreateContainer(ctx(t), p.id, c, p.cfg); err == nil {
		if err := p.rt.StartContainer(ctx(t), id); err == nil {
			t.Errorf("a container with an unknown CDI device started")
		}
	}
}
