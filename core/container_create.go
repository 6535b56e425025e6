package core

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CreateContainer creates a container in a sandbox: in the pause container's network,
// IPC (and so UTS: Docker shares the hostname with the network) namespaces.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cfg := req.GetConfig()
	if cfg.GetMetadata().GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "container config needs metadata with a name")
	}
	if strings.Contains(cfg.GetMetadata().GetName(), nameDelimiter) {
		return nil, status.Errorf(codes.InvalidArgument, "container name %q contains %q", cfg.GetMetadata().GetName(), nameDelimiter)
	}
	if cfg.GetImage().GetImage() == "" {
		return nil, status.Error(codes.InvalidArgument, "container config needs an image")
	}
	if err := checkLabels("container "+cfg.GetMetadata().GetName(), cfg.GetLabels(), cfg.GetAnnotations()); err != nil {
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
			return nil, status.Errorf(codes.Internal, "create log directory of %s: %v", cfg.GetMetadata().GetName(), err)
		}
	}
	dcfg, hc, err := s.containerDockerConfig(cfg, sandbox.ID, sandbox.HostConfig, logPath)
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

// containerDockerConfig translates a container config into Docker's.
func (s *Service) containerDockerConfig(cfg *runtimeapi.ContainerConfig, sandboxID string, sandboxHC *container.HostConfig, logPath string) (*container.Config, *container.HostConfig, error) {
	labels := dockerLabels(cfg.GetLabels(), cfg.GetAnnotations())
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
	mounts, err := dockerMounts(cfg.GetMounts(), s.mountFeatures())
	if err != nil {
		return nil, nil, err
	}
	hc.Mounts = mounts
	if err := s.applyLinuxContainerConfig(cfg.GetLinux(), sandboxID, c, hc); err != nil {
		return nil, nil, err
	}
	for _, d := range cfg.GetDevices() {
		perms := d.GetPermissions()
		if perms == "" {
			perms = "rwm"
		}
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: d.GetHostPath(), PathInContainer: d.GetContainerPath(), CgroupPermissions: perms})
	}
	if err := s.applyCDIDevices(cfg.GetCDIDevices(), hc); err != nil {
		return nil, nil, err
	}
	return c, hc, nil
}

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
