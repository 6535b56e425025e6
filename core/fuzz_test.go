package core

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/daemon/names"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/checkpoint"
	"github.com/dockercri/dockercri/core/dockerview"
)

// The fuzz targets feed requests through the translation of RunPodSandbox,
// CreateContainer and the list filters, never Docker. Whatever the request, the
// translation must not panic, must refuse it with a gRPC InvalidArgument status, or must
// give Docker a config that says what the request said. `make fuzz` runs each target for
// a while; `go test` runs the seeds and testdata/fuzz.
//
// An input is a protobuf-encoded request (what the kubelet sends on the wire) and two
// edits, each setting one field anywhere in the request (a path through its schema) to
// a string or a number: Go's fuzzer mutates typed values well and long protobuf bytes
// badly (in minutes of mutating the seeds' bytes it never turned a port's protocol into
// a value the enum lacks), so the edits reach every field of realistic requests.

// fuzzRequests runs check on the requests of type T that the fuzzer makes from seeds.
func fuzzRequests[T proto.Message](f *testing.F, seeds []T, check func(t *testing.T, req T)) {
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(0), "", int64(0), uint16(0), "", int64(0))
	}
	var zero T
	paths := fieldPaths(zero.ProtoReflect().Descriptor(), nil)
	f.Fuzz(func(t *testing.T, data []byte, p1 uint16, s1 string, n1 int64, p2 uint16, s2 string, n2 int64) {
		// Fields this CRI does not know (a newer kubelet's) are not the translation's:
		// dropped, so that comparisons see only what it reads.
		req := zero.ProtoReflect().New().Interface().(T)
		if (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, req) != nil {
			return
		}
		for _, e := range []struct {
			p uint16
			s string
			n int64
		}{{p1, s1, n1}, {p2, s2, n2}} {
			if e.p != 0 { // 0: no edit
				editField(req.ProtoReflect(), paths[int(e.p-1)%len(paths)], e.s, e.n)
			}
		}
		check(t, req)
	})
}

// fieldPaths lists the path to every field of a message type, through its message
// fields, depth first (the CRI's messages nest no deeper than a few levels).
func fieldPaths(md protoreflect.MessageDescriptor, prefix []protoreflect.FieldDescriptor) [][]protoreflect.FieldDescriptor {
	var out [][]protoreflect.FieldDescriptor
	for i := 0; i < md.Fields().Len(); i++ {
		fd := md.Fields().Get(i)
		p := append(slices.Clone(prefix), fd)
		out = append(out, p)
		if fd.Message() != nil && !fd.IsMap() && len(p) < 8 {
			out = append(out, fieldPaths(fd.Message(), p)...)
		}
	}
	return out
}

// editField sets the field at path in m: a scalar to s or n (as its kind takes it), a
// map entry "key=value" from s, a list gets one more element (one fewer for n < 0), a
// message is made (cleared for n < 0). Through a list, the path goes into element n
// (modulo its length), made if the list is empty. Strings stay valid UTF-8, as the
// protobuf decoder of a real request demands.
func editField(m protoreflect.Message, path []protoreflect.FieldDescriptor, s string, n int64) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for _, fd := range path[:len(path)-1] {
		if !fd.IsList() {
			m = m.Mutable(fd).Message()
			continue
		}
		l := m.Mutable(fd).List()
		if l.Len() == 0 {
			l.Append(l.NewElement())
		}
		m = l.Get(int(uint64(n) % uint64(l.Len()))).Message()
	}
	fd := path[len(path)-1]
	switch {
	case fd.IsMap():
		k, v, _ := strings.Cut(s, "=")
		if n < 0 {
			m.Mutable(fd).Map().Clear(protoreflect.ValueOfString(k).MapKey())
		} else {
			m.Mutable(fd).Map().Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(v))
		}
	case fd.IsList():
		l := m.Mutable(fd).List()
		switch {
		case n < 0 && l.Len() > 0:
			l.Truncate(l.Len() - 1)
		case fd.Message() != nil:
			l.Append(l.NewElement())
		default:
			l.Append(scalarValue(fd, s, n))
		}
	case fd.Message() != nil:
		if n < 0 {
			m.Clear(fd)
		} else {
			m.Mutable(fd)
		}
	default:
		m.Set(fd, scalarValue(fd, s, n))
	}
}

func scalarValue(fd protoreflect.FieldDescriptor, s string, n int64) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(s))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(n&1 == 1)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(int32(n)))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n))
	}
	return protoreflect.ValueOfInt64(n)
}

// fuzzServices are the engines and hosts the translation meets: Docker 20.10 on an
// unrestricted host, and Docker 28.5 on a host that lacks capabilities, may not lower
// oom_score_adj and has mount_setattr.
func fuzzServices() []*Service {
	restricted := testService()
	restricted.docker = versionedEngine("1.51")
	restricted.host = hostLimits{minOOMScoreAdj: 0, bounding: []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"}, missing: []string{"CAP_SYS_RESOURCE"}, mountSetattr: true}
	return []*Service{testService(), restricted}
}

// fuzzInfo is Docker's info as far as the runtime handlers go.
var fuzzInfo = system.Info{Runtimes: map[string]system.RuntimeWithStatus{"runc": {}, "kata": {}}}

// wantRefused fails t unless err is a gRPC status with code InvalidArgument: what a
// request's own content can be refused with.
func wantRefused(t *testing.T, what string, req proto.Message, err error) {
	t.Helper()
	if s, ok := status.FromError(err); !ok || s.Code() != codes.InvalidArgument {
		t.Fatalf("%s: %v (%T), want an InvalidArgument status; request %v", what, err, err, req)
	}
}

func FuzzRunPodSandbox(f *testing.F) {
	fuzzRequests(f, sandboxSeeds(), func(t *testing.T, req *runtimeapi.RunPodSandboxRequest) {
		cfg := req.GetConfig()
		if err := validateSandboxConfig(cfg); err != nil {
			wantRefused(t, "validateSandboxConfig", req, err)
			return
		}
		runtime, err := dockerRuntime(fuzzInfo, req.GetRuntimeHandler())
		if err != nil {
			wantRefused(t, "dockerRuntime", req, err)
			return
		}
		for _, s := range fuzzServices() {
			for _, driver := range []string{"cgroupfs", "systemd"} {
				c, hc, err := s.sandboxDockerConfig(cfg, "registry.k8s.io/pause:3.10", runtime, driver)
				if err != nil {
					wantRefused(t, "sandboxDockerConfig", req, err)
					continue
				}
				checkSandboxConfig(t, req, c, hc, driver)
			}
		}
		checkName(t, sandboxName(cfg.GetMetadata()), req)
		if got, err := parseSandboxName("/" + sandboxName(cfg.GetMetadata())); err != nil || !proto.Equal(got, cfg.GetMetadata()) {
			t.Fatalf("the sandbox's Docker name %q reads back as %v, %v; want %v", sandboxName(cfg.GetMetadata()), got, err, cfg.GetMetadata())
		}
		checkPorts(t, req, checkpointPorts(cfg.GetPortMappings()))
		if !hostNetwork(cfg) {
			checkResolvConf(t, req, cfg.GetDnsConfig())
		}
	})
}

// checkSandboxConfig checks what the pause container's config says against the request.
func checkSandboxConfig(t *testing.T, req *runtimeapi.RunPodSandboxRequest, c *container.Config, hc *container.HostConfig, driver string) {
	t.Helper()
	cfg := req.GetConfig()
	checkLabelsKept(t, req, c.Labels, cfg.GetLabels(), cfg.GetAnnotations())
	if c.Labels[labelType] != typeSandbox || c.Labels[labelContainerName] != sandboxContainerName {
		t.Fatalf("the pause container's labels %v do not mark it a sandbox; request %v", c.Labels, req)
	}
	if !maps.Equal(hc.Sysctls, cfg.GetLinux().GetSysctls()) {
		t.Fatalf("sysctls %v, want %v", hc.Sysctls, cfg.GetLinux().GetSysctls())
	}
	// runc writes the file of /proc/sys the name makes, each "." a "/": one file, named
	// by parts none of them empty.
	for k := range hc.Sysctls {
		if p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/"); path.Clean(p) != p {
			t.Fatalf("sysctl %q: runc would write %s; request %v", k, path.Clean(p), req)
		}
	}
	if len(c.Hostname) > 64 || strings.ContainsAny(c.Hostname, " \t\r\n") {
		t.Fatalf("hostname %q is longer than the kernel takes (64 bytes) or would add lines to /etc/hosts; request %v", c.Hostname, req)
	}
	checkCgroupParent(t, req, hc.CgroupParent, cfg.GetLinux().GetCgroupParent(), driver)
	checkUser(t, req, c.User, cfg.GetLinux().GetSecurityContext().GetRunAsUser(), "", cfg.GetLinux().GetSecurityContext().GetRunAsGroup())
	if u := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetUsernsOptions(); u != nil && u.GetMode() != runtimeapi.NamespaceMode_NODE {
		t.Fatalf("a user namespace not the host's, which Docker cannot give, was not refused; request %v", req)
	}
	checkJSON(t, req, c, hc)
}

// checkLabelsKept checks that the Docker labels read back as the CRI labels and
// annotations the request gave.
func checkLabelsKept(t *testing.T, req proto.Message, docker, labels, annotations map[string]string) {
	t.Helper()
	gotL, gotA := criLabels(docker)
	if !maps.Equal(gotL, labels) || !maps.Equal(gotA, annotations) {
		t.Fatalf("Docker labels %v read back as labels %v and annotations %v; want %v and %v", docker, gotL, gotA, labels, annotations)
	}
}

// checkName checks a Docker name against what Docker accepts.
func checkName(t *testing.T, name string, req proto.Message) {
	t.Helper()
	if !names.RestrictedNamePattern.MatchString(name) {
		t.Fatalf("Docker name %q is not one Docker takes (%s); request %v", name, names.RestrictedNameChars, req)
	}
}

// checkCgroupParent checks the cgroup parent is one Docker's cgroup driver takes: for
// systemd a slice name runc can expand (name.slice, no "/", no empty part between "-").
func checkCgroupParent(t *testing.T, req proto.Message, got, asked, driver string) {
	t.Helper()
	if asked != "" && got == "" {
		t.Fatalf("cgroup parent %q was dropped (driver %s); request %v", asked, driver, req)
	}
	if driver != "systemd" || got == "" {
		return
	}
	name, ok := strings.CutSuffix(got, ".slice")
	if !ok || strings.Contains(got, "/") || name != "-" && slices.Contains(strings.Split(name, "-"), "") {
		t.Fatalf("cgroup parent %q (asked %q) is not a systemd slice name; request %v", got, asked, req)
	}
}

// checkUser checks Docker's user[:group] reads back as the user and group asked for,
// with IDs in the range runc takes.
func checkUser(t *testing.T, req proto.Message, got string, uid *runtimeapi.Int64Value, username string, gid *runtimeapi.Int64Value) {
	t.Helper()
	want := username
	if uid != nil {
		want = strconv.FormatInt(uid.GetValue(), 10)
	}
	user, group, hasGroup := strings.Cut(got, ":")
	if user != want || hasGroup != (gid != nil) || gid != nil && group != strconv.FormatInt(gid.GetValue(), 10) {
		t.Fatalf("Docker user %q, want user %q and group %v; request %v", got, want, gid, req)
	}
	for _, id := range []*runtimeapi.Int64Value{uid, gid} {
		if id != nil && (id.GetValue() < 0 || id.GetValue() > 1<<31-1) {
			t.Fatalf("ID %d is outside what runc takes (0 to 2147483647); request %v", id.GetValue(), req)
		}
	}
}

// checkJSON checks the configs survive the JSON the Docker client sends them in.
func checkJSON(t *testing.T, req proto.Message, c *container.Config, hc *container.HostConfig) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("config does not encode: %v; request %v", err, req)
	}
	var back container.Config
	if err := json.Unmarshal(b, &back); err != nil || !maps.Equal(back.Labels, c.Labels) || !slices.Equal(back.Env, c.Env) {
		t.Fatalf("config does not survive JSON (%v): labels %q env %q came back as %q and %q; request %v", err, c.Labels, c.Env, back.Labels, back.Env, req)
	}
	if _, err := json.Marshal(hc); err != nil {
		t.Fatalf("host config does not encode: %v; request %v", err, req)
	}
}

// checkPorts checks the port mappings CNI gets are ports and addresses.
func checkPorts(t *testing.T, req proto.Message, pms []checkpoint.PortMapping) {
	t.Helper()
	for _, pm := range pms {
		if pm.ContainerPort < 0 || pm.ContainerPort > 65535 || pm.HostPort < 0 || pm.HostPort > 65535 {
			t.Fatalf("port mapping %+v: ports outside 0-65535; request %v", pm, req)
		}
		if !slices.Contains([]string{"tcp", "udp", "sctp"}, pm.Protocol) {
			t.Fatalf("port mapping %+v: protocol %q; request %v", pm, pm.Protocol, req)
		}
		if _, err := netip.ParseAddr(pm.HostIP); pm.HostIP != "" && err != nil {
			t.Fatalf("port mapping %+v: host IP %q: %v; request %v", pm, pm.HostIP, err, req)
		}
	}
}

// checkResolvConf checks the pod's resolv.conf reads back as the DNS config asked for.
func checkResolvConf(t *testing.T, req proto.Message, dns *runtimeapi.DNSConfig) {
	t.Helper()
	if len(dns.GetServers()) == 0 && len(dns.GetSearches()) == 0 && len(dns.GetOptions()) == 0 {
		return // the host's
	}
	b, err := resolvConf(dns)
	if err != nil {
		wantRefused(t, "resolvConf", req, err)
		return
	}
	var servers, searches, options []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 2 && fields[0] == "nameserver":
			servers = append(servers, fields[1])
		case len(fields) > 1 && fields[0] == "search" && searches == nil:
			searches = fields[1:]
		case len(fields) > 1 && fields[0] == "options" && options == nil:
			options = fields[1:]
		default:
			t.Fatalf("resolv.conf line %q is not one asked for; request %v", line, req)
		}
	}
	if !slices.Equal(servers, dns.GetServers()) || !slices.Equal(searches, dns.GetSearches()) || !slices.Equal(options, dns.GetOptions()) {
		t.Fatalf("resolv.conf %q reads back as servers %q searches %q options %q; request %v", b, servers, searches, options, req)
	}
	for _, srv := range servers {
		if _, err := netip.ParseAddr(srv); err != nil {
			t.Fatalf("nameserver %q: %v; request %v", srv, err, req)
		}
	}
}

// fuzzSandboxID and fuzzSandboxName are the sandbox the fuzzed containers go in.
var (
	fuzzSandboxID   = strings.Repeat("ab", 32)
	fuzzSandboxName = "/" + sandboxName(seedPod().GetMetadata())
)

// fuzzSandboxHostConfigs are the sandboxes a container meets: a pod on the pod network,
// and one on the host's network and IPC with a runtime handler.
var fuzzSandboxHostConfigs = []*container.HostConfig{
	{NetworkMode: "none", IpcMode: "shareable", Resources: container.Resources{CgroupParent: "/kubepods/burstable/pod" + seedUID}},
	{NetworkMode: "host", IpcMode: "host", Runtime: "kata", Resources: container.Resources{CgroupParent: "kubepods-besteffort.slice"}},
}

func FuzzCreateContainer(f *testing.F) {
	fuzzRequests(f, containerSeeds(), func(t *testing.T, req *runtimeapi.CreateContainerRequest) {
		cfg := req.GetConfig()
		if err := validateContainerConfig(cfg); err != nil {
			wantRefused(t, "validateContainerConfig", req, err)
			return
		}
		logPath := ""
		if cfg.GetLogPath() != "" {
			var err error
			if logPath, err = containerLogPath(req.GetSandboxConfig().GetLogDirectory(), cfg.GetLogPath()); err != nil {
				wantRefused(t, "containerLogPath", req, err)
				return
			}
			if dir := req.GetSandboxConfig().GetLogDirectory(); !inside(dir, logPath) {
				t.Fatalf("log path %q is not inside the log directory %q; request %v", logPath, dir, req)
			}
		}
		sandboxMeta, err := parseSandboxName(fuzzSandboxName)
		if err != nil {
			t.Fatal(err)
		}
		name := containerName(sandboxMeta, cfg.GetMetadata())
		checkName(t, name, req)
		if got, err := parseContainerName("/" + name); err != nil || !proto.Equal(got, cfg.GetMetadata()) {
			t.Fatalf("the container's Docker name %q reads back as %v, %v; want %v", name, got, err, cfg.GetMetadata())
		}
		for _, s := range fuzzServices() {
			for _, shc := range fuzzSandboxHostConfigs {
				c, hc, err := s.containerDockerConfig(cfg, fuzzSandboxID, shc, logPath, "/var/lib/docker")
				if err != nil {
					wantRefused(t, "containerDockerConfig", req, err)
					continue
				}
				checkContainerConfig(t, req, c, hc, logPath)
			}
		}
	})
}

// inside tells whether path is below dir.
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

// checkContainerConfig checks what the container's Docker config says against the request.
func checkContainerConfig(t *testing.T, req *runtimeapi.CreateContainerRequest, c *container.Config, hc *container.HostConfig, logPath string) {
	t.Helper()
	cfg := req.GetConfig()
	checkLabelsKept(t, req, c.Labels, cfg.GetLabels(), cfg.GetAnnotations())
	if c.Labels[labelType] != typeContainer || c.Labels[labelSandboxID] != fuzzSandboxID || c.Labels[labelLogPath] != logPath {
		t.Fatalf("labels %v do not mark a container of sandbox %s with log %q; request %v", c.Labels, fuzzSandboxID, logPath, req)
	}
	if c.Image != cfg.GetImage().GetImage() || !slices.Equal(c.Entrypoint, nilIfEmpty(cfg.GetCommand())) || !slices.Equal(c.Cmd, nilIfEmpty(cfg.GetArgs())) {
		t.Fatalf("image %q entrypoint %q cmd %q; request %v", c.Image, c.Entrypoint, c.Cmd, req)
	}
	if len(c.Env) != len(cfg.GetEnvs()) {
		t.Fatalf("env %q for %d variables; request %v", c.Env, len(cfg.GetEnvs()), req)
	}
	for i, kv := range cfg.GetEnvs() {
		k, v, _ := strings.Cut(c.Env[i], "=")
		if k == "" || k != kv.GetKey() || v != string(kv.GetValue()) || strings.ContainsRune(c.Env[i], 0) {
			t.Fatalf("env %q reads back as %q=%q, want %q=%q; request %v", c.Env[i], k, v, kv.GetKey(), kv.GetValue(), req)
		}
	}
	sig := cfg.GetStopSignal()
	if _, known := runtimeapi.Signal_name[int32(sig)]; !known || (c.StopSignal == "") != (sig == runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT) || c.StopSignal != "" && !strings.HasPrefix(c.StopSignal, "SIG") {
		t.Fatalf("stop signal %v is %q for Docker; request %v", sig, c.StopSignal, req)
	}
	sc := cfg.GetLinux().GetSecurityContext()
	checkUser(t, req, c.User, sc.GetRunAsUser(), sc.GetRunAsUsername(), sc.GetRunAsGroup())
	for _, g := range sc.GetSupplementalGroups() {
		if g < 0 || g > 1<<31-1 {
			t.Fatalf("supplemental group %d is outside what runc takes; request %v", g, req)
		}
	}
	if u := sc.GetNamespaceOptions().GetUsernsOptions(); u != nil && u.GetMode() != runtimeapi.NamespaceMode_NODE {
		t.Fatalf("a user namespace not the host's, which Docker cannot give, was not refused; request %v", req)
	}
	checkMounts(t, req, hc)
	for _, d := range hc.Devices {
		if strings.Trim(d.CgroupPermissions, "rwm") != "" || d.CgroupPermissions == "" || !filepath.IsAbs(d.PathInContainer) {
			t.Fatalf("device %+v is not one runc takes; request %v", d, req)
		}
	}
	r := cfg.GetLinux().GetResources()
	if hc.CPUShares != r.GetCpuShares() || hc.Memory != r.GetMemoryLimitInBytes() || hc.CPUQuota != r.GetCpuQuota() || hc.CPUPeriod != r.GetCpuPeriod() || hc.CpusetCpus != r.GetCpusetCpus() {
		t.Fatalf("resources %+v, want %v; request %v", hc.Resources, r, req)
	}
	checkJSON(t, req, c, hc)
}

// checkMounts checks the container's Docker mounts read back as the request's mounts.
func checkMounts(t *testing.T, req *runtimeapi.CreateContainerRequest, hc *container.HostConfig) {
	t.Helper()
	asked := req.GetConfig().GetMounts()
	got := criMounts(hc)
	if len(got) != len(asked) {
		t.Fatalf("%d Docker mounts for %d; request %v", len(got), len(asked), req)
	}
	for i, m := range asked {
		g := got[i]
		image := m.GetImage().GetImage() != ""
		// An image's content is read-only through and through: recursive read-only holds.
		if g.ContainerPath != m.GetContainerPath() || !image && g.RecursiveReadOnly != m.GetRecursiveReadOnly() || g.ImageSubPath != m.GetImageSubPath() ||
			g.Readonly != (m.GetReadonly() || image) || !image && g.Propagation != m.GetPropagation() || g.GetImage().GetImage() != m.GetImage().GetImage() {
			t.Fatalf("mount %v reads back as %v; request %v", m, g, req)
		}
		if len(m.GetUidMappings()) > 0 || len(m.GetGidMappings()) > 0 {
			t.Fatalf("mount %v: ID mappings, which Docker cannot make, were not refused; request %v", m, req)
		}
		if !filepath.IsAbs(g.ContainerPath) {
			t.Fatalf("mount %v: container path is not absolute; request %v", m, req)
		}
	}
}

// listFixture is what a list should find: the CRI's side of each object in the view.
type listFixture struct {
	id, sandboxID       string
	state               int32
	labels, annotations map[string]string
}

// listService is a Service whose view holds the seed pods and containers as their
// translation gives them to Docker, and a few Docker objects dockercri did not make.
func listService(f *testing.F) (*Service, []listFixture, []listFixture) {
	s := testService()
	objs := map[string]container.InspectResponse{}
	var sandboxes, containers []listFixture
	for i, req := range sandboxSeeds() {
		cfg := req.GetConfig()
		if validateSandboxConfig(cfg) != nil {
			continue
		}
		c, hc, err := s.sandboxDockerConfig(cfg, "pause", "", "cgroupfs")
		if err != nil {
			continue
		}
		id := fmt.Sprintf("%02x%s", i, strings.Repeat("5a", 31))
		running := i%2 == 0
		objs[id] = container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/" + sandboxName(cfg.GetMetadata()), HostConfig: hc, State: &container.State{Running: running}},
			Config:            c,
		}
		sandboxes = append(sandboxes, listFixture{id: id, state: int32(sandboxState(running)), labels: cfg.GetLabels(), annotations: cfg.GetAnnotations()})
	}
	sbMeta, _ := parseSandboxName(fuzzSandboxName)
	states := []string{"created", "running", "exited", "paused", "dead", "weird"}
	for i, req := range containerSeeds() {
		cfg := req.GetConfig()
		if validateContainerConfig(cfg) != nil {
			continue
		}
		sandboxID := sandboxes[i%len(sandboxes)].id
		c, hc, err := s.containerDockerConfig(cfg, sandboxID, nil, "", "")
		if err != nil {
			continue
		}
		id := fmt.Sprintf("%02x%s", i, strings.Repeat("c3", 31))
		st := states[i%len(states)]
		objs[id] = container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/" + containerName(sbMeta, cfg.GetMetadata()), HostConfig: hc, State: &container.State{Status: st}},
			Config:            c,
		}
		containers = append(containers, listFixture{id: id, sandboxID: sandboxID, state: int32(containerState(st)), labels: cfg.GetLabels(), annotations: cfg.GetAnnotations()})
	}
	// cri-dockerd's container (its random name suffix, no creation label, no state), and
	// two no list shows: a name that is not Kubernetes', and no config at all.
	objs["ee"+strings.Repeat("0", 62)] = container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: "ee" + strings.Repeat("0", 62), Name: "/k8s_old_web_default_" + seedUID + "_0_1a2b3c4d"},
		Config:            &container.Config{Labels: map[string]string{labelType: typeContainer, labelSandboxID: sandboxes[0].id, "app": "old"}},
	}
	containers = append(containers, listFixture{id: "ee" + strings.Repeat("0", 62), sandboxID: sandboxes[0].id, state: int32(runtimeapi.ContainerState_CONTAINER_UNKNOWN), labels: map[string]string{"app": "old"}})
	objs["ef"+strings.Repeat("0", 62)] = container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: "ef" + strings.Repeat("0", 62), Name: "/nginx"},
		Config:            &container.Config{Labels: map[string]string{labelType: typeSandbox}},
	}
	objs["f0"+strings.Repeat("0", 62)] = container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: "f0" + strings.Repeat("0", 62)}}

	docker := versionedEngine("1.41")
	for _, obj := range objs {
		docker.Put(obj)
	}
	s.view = dockerview.New(docker, labelType)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.view.Run(ctx); close(done) }()
	f.Cleanup(func() { cancel(); <-done })
	for !s.view.Synced() {
		time.Sleep(time.Millisecond)
	}
	return s, sandboxes, containers
}

func FuzzListPodSandbox(f *testing.F) {
	s, sandboxes, _ := listService(f)
	// The kubelet's: every sandbox, the ready ones, one pod's; and an id prefix.
	seeds := []*runtimeapi.ListPodSandboxRequest{
		{}, {Filter: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}},
		{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": seedUID}}},
		{Filter: &runtimeapi.PodSandboxFilter{Id: sandboxes[1].id[:12], LabelSelector: map[string]string{"app": "web", "": ""}}},
	}
	fuzzRequests(f, seeds, func(t *testing.T, req *runtimeapi.ListPodSandboxRequest) {
		resp, err := s.ListPodSandbox(context.Background(), req)
		if err != nil {
			wantRefused(t, "ListPodSandbox", req, err)
			return
		}
		var got []listFixture
		for _, sb := range resp.GetItems() {
			got = append(got, listFixture{id: sb.GetId(), state: int32(sb.GetState()), labels: sb.GetLabels(), annotations: sb.GetAnnotations()})
		}
		fl := req.GetFilter()
		checkListed(t, req, got, sandboxes, func(sb listFixture) bool {
			return strings.HasPrefix(sb.id, fl.GetId()) && (fl.GetState() == nil || sb.state == int32(fl.GetState().GetState()))
		}, fl.GetLabelSelector())
	})
}

func FuzzListContainers(f *testing.F) {
	s, sandboxes, containers := listService(f)
	// The kubelet's: every container, the running ones, one pod's, one by id.
	seeds := []*runtimeapi.ListContainersRequest{
		{}, {Filter: &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}},
		{Filter: &runtimeapi.ContainerFilter{PodSandboxId: sandboxes[0].id, LabelSelector: map[string]string{"io.kubernetes.container.name": "app"}}},
		{Filter: &runtimeapi.ContainerFilter{Id: containers[0].id}},
		{Filter: &runtimeapi.ContainerFilter{Id: "0", PodSandboxId: sandboxes[1].id[:4], LabelSelector: map[string]string{labelType: typeContainer}}},
	}
	fuzzRequests(f, seeds, func(t *testing.T, req *runtimeapi.ListContainersRequest) {
		resp, err := s.ListContainers(context.Background(), req)
		if err != nil {
			wantRefused(t, "ListContainers", req, err)
			return
		}
		var got []listFixture
		for _, c := range resp.GetContainers() {
			got = append(got, listFixture{id: c.GetId(), sandboxID: c.GetPodSandboxId(), state: int32(c.GetState()), labels: c.GetLabels(), annotations: c.GetAnnotations()})
		}
		fl := req.GetFilter()
		checkListed(t, req, got, containers, func(c listFixture) bool {
			return strings.HasPrefix(c.id, fl.GetId()) && strings.HasPrefix(c.sandboxID, fl.GetPodSandboxId()) &&
				(fl.GetState() == nil || c.state == int32(fl.GetState().GetState()))
		}, fl.GetLabelSelector())
	})
}

// checkListed checks a list answered exactly the fixtures that match and have every
// label of the selector, each as the request that made it said.
func checkListed(t *testing.T, req proto.Message, got, fixtures []listFixture, match func(listFixture) bool, selector map[string]string) {
	t.Helper()
	var want []listFixture
	for _, fx := range fixtures {
		if match(fx) && matchSelector(fx.labels, selector) {
			want = append(want, fx)
		}
	}
	byID := func(a, b listFixture) int { return strings.Compare(a.id, b.id) }
	slices.SortFunc(got, byID)
	slices.SortFunc(want, byID)
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.id == w.id && g.sandboxID == w.sandboxID && g.state == w.state && maps.Equal(g.labels, w.labels) && maps.Equal(g.annotations, w.annotations)
	}
	if !same {
		t.Fatalf("listed %+v, want %+v; request %v", got, want, req)
	}
}
