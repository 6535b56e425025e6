package core

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core/grpcerr"
)

// CreateContainer creates a container in a sandbox: in the pause container's network,
// IPC (and so UTS: Docker shares the hostname with the network) namespaces.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cfg := req.GetConfig()
	if err := validateContainerConfig(cfg); err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	sandbox, err := s.inspectKind(ctx, req.GetPodSandboxId(), typeSandbox)
	if err != nil {
		return nil, err
	}
	sandboxMeta, err := parseSandboxName(sandbox.Name)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "sandbox %s: %v", sandbox.ID, err)
	}
	logPath := ""
	if cfg.GetLogPath() != "" {
		dir := req.GetSandboxConfig().GetLogDirectory()
		if dir == "" {
			if cp, err := s.checkpoints.Load(sandbox.ID); err == nil && cp != nil {
				dir = cp.LogDirectory
			}
		}
		if logPath, err = containerLogPath(dir, cfg.GetLogPath()); err != nil {
			return nil, err
		}
		// The kubelet makes the container's log directory; a client that did not still
		// gets its log.
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return nil, grpcerr.Wrap(err, "create log directory of "+cfg.GetMetadata().GetName())
		}
	}
	daemon, err := s.daemonFacts(ctx)
	if err != nil {
		return nil, err
	}
	dcfg, hc, err := s.containerDockerConfig(cfg, sandbox.ID, sandbox.HostConfig, logPath, daemon.rootDir)
	if err != nil {
		return nil, err
	}
	if err := s.labelImage(ctx, cfg.GetImage(), dcfg.Labels); err != nil {
		return nil, err
	}
	name := containerName(sandboxMeta, cfg.GetMetadata())
	id, err := s.createContainer(ctx, dcfg, hc, name)
	if err != nil {
		return nil, err
	}
	s.refresh(ctx, id)
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

// validateContainerConfig checks what a container config must be before anything is
// made for it.
func validateContainerConfig(cfg *runtimeapi.ContainerConfig) error {
	if cfg.GetMetadata().GetName() == "" {
		return status.Error(codes.InvalidArgument, "container config needs metadata with a name")
	}
	if err := checkNamePart("container name", cfg.GetMetadata().GetName()); err != nil {
		return err
	}
	if cfg.GetImage().GetImage() == "" {
		return status.Error(codes.InvalidArgument, "container config needs an image")
	}
	if err := checkLabels("container "+cfg.GetMetadata().GetName(), cfg.GetLabels(), cfg.GetAnnotations()); err != nil {
		return err
	}
	if err := checkEnvs(cfg.GetEnvs()); err != nil {
		return err
	}
	// The kernel takes no NUL byte in a path or an argument: runc would refuse one, but
	// only at the start, after Docker took it.
	kernel := append(append([]string{cfg.GetWorkingDir(), cfg.GetLogPath()}, cfg.GetCommand()...), cfg.GetArgs()...)
	for _, m := range cfg.GetMounts() {
		kernel = append(kernel, m.GetContainerPath(), m.GetHostPath())
	}
	for _, d := range cfg.GetDevices() {
		kernel = append(kernel, d.GetContainerPath(), d.GetHostPath())
	}
	if err := checkNoNUL("container "+cfg.GetMetadata().GetName(), kernel...); err != nil {
		return err
	}
	return checkEnums(cfg)
}

// checkNoNUL refuses strings of what that hold a NUL byte.
func checkNoNUL(what string, strs ...string) error {
	for _, s := range strs {
		if strings.IndexByte(s, 0) >= 0 {
			return status.Errorf(codes.InvalidArgument, "%s: %q holds a NUL byte, which no path or argument may", what, s)
		}
	}
	return nil
}

// checkEnvs refuses environment variables Docker's NAME=value list cannot carry: a
// name that is empty or holds "=" (it would read back as another variable), a NUL byte
// anywhere, or a value that is not UTF-8 (the CRI's values are bytes, Docker's API is
// JSON, which turns each invalid byte into U+FFFD). runc refuses an empty name and a
// NUL byte, but only at the start.
func checkEnvs(kvs []*runtimeapi.KeyValue) error {
	for _, kv := range kvs {
		if kv.GetKey() == "" || strings.ContainsAny(kv.GetKey(), "=\x00") || bytes.IndexByte(kv.GetValue(), 0) >= 0 {
			return status.Errorf(codes.InvalidArgument, "environment variable %q: a name must be non-empty without \"=\", and neither name nor value may hold a NUL byte", kv.GetKey())
		}
		if !utf8.Valid(kv.GetValue()) {
			return status.Errorf(codes.InvalidArgument, "environment variable %s: the value is not UTF-8, which Docker's API cannot carry", kv.GetKey())
		}
	}
	return nil
}

// containerDockerConfig translates a container config into Docker's.
func (s *Service) containerDockerConfig(cfg *runtimeapi.ContainerConfig, sandboxID string, sandboxHC *container.HostConfig, logPath, dockerRoot string) (*container.Config, *container.HostConfig, error) {
	labels := dockerLabels(cfg.GetLabels(), cfg.GetAnnotations())
	labels[labelRoot] = s.cfg.RootDirectory
	labels[labelType] = typeContainer
	labels[labelSandboxID] = sandboxID
	if logPath != "" {
		labels[labelLogPath] = logPath
	}
	c := &container.Config{
		Image:      cfg.GetImage().GetImage(),
		Env:        envList(cfg.GetEnvs()),
		WorkingDir: cfg.GetWorkingDir(),
		Labels:     labels,
		Tty:        cfg.GetTty(),
		OpenStdin:  cfg.GetStdin(),
		StdinOnce:  cfg.GetStdin() && cfg.GetStdinOnce(),
		// The kubelet's command replaces the image's ENTRYPOINT and its args the image's
		// CMD; with a command and no args the image's CMD is dropped, which Docker does
		// when an entrypoint is given and no CMD.
		Entrypoint: nilIfEmpty(cfg.GetCommand()),
		Cmd:        nilIfEmpty(cfg.GetArgs()),
	}
	c.StopSignal = dockerSignal(cfg.GetStopSignal())
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode("container:" + sandboxID),
		IpcMode:     container.IpcMode("container:" + sandboxID),
		LogConfig:   s.dockerLogConfig(logPath),
	}
	// A host-network pod's containers share the host's namespaces, as its sandbox does.
	if sandboxHC != nil {
		if sandboxHC.NetworkMode.IsHost() {
			hc.NetworkMode = "host"
		}
		if sandboxHC.IpcMode.IsHost() {
			hc.IpcMode = "host"
		}
		hc.Runtime = sandboxHC.Runtime
		// The CRI gives the cgroup parent for the pod only: its containers go under it.
		hc.CgroupParent = sandboxHC.CgroupParent
	}
	mounts, err := dockerMounts(cfg.GetMounts(), s.mountFeatures(), dockerRoot)
	if err != nil {
		return nil, nil, err
	}
	hc.Mounts = mounts
	if err := s.applyLinuxContainerConfig(cfg.GetLinux(), sandboxID, c, hc); err != nil {
		return nil, nil, err
	}
	for _, d := range cfg.GetDevices() {
		// Docker would look a relative path up from its own working directory.
		if !filepath.IsAbs(d.GetHostPath()) {
			return nil, nil, status.Errorf(codes.InvalidArgument, "device %q is not an absolute path", d.GetHostPath())
		}
		perms := d.GetPermissions()
		if perms == "" {
			perms = "rwm"
		}
		// Docker looks at a device only when the container starts, and a failure there
		// would answer Internal.
		if !filepath.IsAbs(d.GetHostPath()) || !filepath.IsAbs(d.GetContainerPath()) || strings.Trim(perms, "rwm") != "" {
			return nil, nil, status.Errorf(codes.InvalidArgument, "device %s:%s:%s: the paths must be absolute, the permissions of r, w and m", d.GetHostPath(), d.GetContainerPath(), d.GetPermissions())
		}
		if _, err := os.Stat(d.GetHostPath()); err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "device %s: %v", d.GetHostPath(), err)
		}
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: d.GetHostPath(), PathInContainer: d.GetContainerPath(), CgroupPermissions: perms})
	}
	if err := s.applyCDIDevices(cfg.GetCDIDevices(), hc); err != nil {
		return nil, nil, err
	}
	return c, hc, nil
}

// dockerLogConfig is the log driver of a container with a CRI log at logPath: Docker's
// json-file, which its CRI log is copied from (core/crilog), with a rotation of
// dockercri's own, whatever the daemon's default driver and options, so that the file
// is there and Docker's copy stays bounded. Compression stays off: a rotated file is
// read as it is when dockercri catches up after being down. With
// --container-log-format=docker-json, the daemon's configuration, as under dockershim.
func (s *Service) dockerLogConfig(logPath string) container.LogConfig {
	if logPath == "" || s.cfg.ContainerLogFormat != config.LogFormatCRI {
		return container.LogConfig{}
	}
	return container.LogConfig{Type: jsonFileDriver, Config: map[string]string{
		"max-size": s.cfg.DockerLogMaxSize,
		"max-file": strconv.Itoa(s.cfg.DockerLogMaxFile),
		"compress": "false",
	}}
}

// jsonFileDriver is the name of Docker's json-file log driver.
const jsonFileDriver = "json-file"

// applyCDIDevices asks Docker for the container's CDI devices (how device plugins hand
// out GPUs and other devices: fully qualified names, vendor.com/class=device), which
// Docker resolves with the CDI specs of its cdi-spec-dirs. Docker's device requests
// take the "cdi" driver from Engine API 1.44 (Docker 25; on by default from Docker
// 28.2); where the engine has none, the request is refused rather than ignored.
func (s *Service) applyCDIDevices(devices []*runtimeapi.CDIDevice, hc *container.HostConfig) error {
	if len(devices) == 0 {
		return nil
	}
	if versions.LessThan(s.docker.ClientVersion(), "1.44") {
		return status.Errorf(codes.InvalidArgument, "CDI devices: this Docker Engine cannot inject them (Engine API 1.44, Docker 25, and later can)")
	}
	req := container.DeviceRequest{Driver: "cdi"}
	for _, d := range devices {
		if !strings.Contains(d.GetName(), "=") || !strings.Contains(d.GetName(), "/") {
			return status.Errorf(codes.InvalidArgument, "CDI device %q is not a fully qualified name (vendor.com/class=device)", d.GetName())
		}
		req.DeviceIDs = append(req.DeviceIDs, d.GetName())
	}
	hc.DeviceRequests = append(hc.DeviceRequests, req)
	return nil
}

// applyLinuxContainerConfig applies the Linux namespaces, resources and security
// context of a container.
func (s *Service) applyLinuxContainerConfig(lc *runtimeapi.LinuxContainerConfig, sandboxID string, c *container.Config, hc *container.HostConfig) error {
	ns := lc.GetSecurityContext().GetNamespaceOptions()
	if err := checkUserNamespace(ns); err != nil {
		return err
	}
	switch ns.GetPid() {
	case runtimeapi.NamespaceMode_POD:
		hc.PidMode = container.PidMode("container:" + sandboxID)
	case runtimeapi.NamespaceMode_NODE:
		hc.PidMode = "host"
	case runtimeapi.NamespaceMode_TARGET:
		if ns.GetTargetId() == "" {
			return status.Error(codes.InvalidArgument, "PID namespace mode TARGET needs a target id")
		}
		hc.PidMode = container.PidMode("container:" + ns.GetTargetId())
	}
	switch ns.GetIpc() {
	case runtimeapi.NamespaceMode_NODE:
		hc.IpcMode = "host"
	case runtimeapi.NamespaceMode_CONTAINER:
		hc.IpcMode = "private"
	}
	res, oom, err := s.dockerResources(lc.GetResources())
	if err != nil {
		return err
	}
	if err := setUnifiedLabel(c, lc.GetResources().GetUnified()); err != nil {
		return err
	}
	res.CgroupParent = hc.CgroupParent
	hc.Resources = res
	hc.OomScoreAdj = oom
	return s.applySecurityContext(lc.GetSecurityContext(), c, hc)
}

// checkUserNamespace refuses a user namespace other than the host's: Docker has one
// user namespace for all its containers (userns-remap, daemon-wide), none per pod.
// (Status says so; the kubelet asks only for the host's then.)
func checkUserNamespace(ns *runtimeapi.NamespaceOption) error {
	if u := ns.GetUsernsOptions(); u != nil && u.GetMode() != runtimeapi.NamespaceMode_NODE {
		return status.Errorf(codes.InvalidArgument, "user namespace mode %v: this Docker Engine gives no pod a user namespace of its own", u.GetMode())
	}
	return nil
}

func envList(kvs []*runtimeapi.KeyValue) []string {
	out := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, kv.GetKey()+"="+string(kv.GetValue()))
	}
	return out
}

// dockerSignal names a CRI stop signal the way Docker parses it ("SIGRTMIN+1"); the
// runtime default is "" so that the image's STOPSIGNAL (else SIGTERM) applies.
func dockerSignal(sig runtimeapi.Signal) string {
	if sig == runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		return ""
	}
	name := strings.TrimPrefix(sig.String(), "SIGNAL_")
	name = strings.Replace(name, "PLUS", "+", 1)
	return strings.Replace(name, "MINUS", "-", 1)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
