package core

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/checkpoint"
	"github.com/dockercri/dockercri/core/grpcerr"
)

// sandboxCPUShares is the pause container's CPU weight: it never runs, and dockershim
// gave it the same.
const sandboxCPUShares = 2

// RunPodSandbox starts a pod's pause container, which holds the pod's namespaces.
func (s *Service) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	cfg := req.GetConfig()
	if err := validateSandboxConfig(cfg); err != nil {
		return nil, err
	}
	cgroupDriver, err := s.dockerCgroupDriver(ctx)
	if err != nil {
		return nil, err
	}
	// Docker's runtimes (which a reload may change) are asked only for a named handler:
	// docker info costs dockerd milliseconds, and most pods use the default.
	var runtime string
	if handler := req.GetRuntimeHandler(); handler != "" {
		info, err := s.dockerInfo(ctx)
		if err != nil {
			return nil, err
		}
		if runtime, err = dockerRuntime(info, handler); err != nil {
			return nil, err
		}
	}
	if dir := cfg.GetLogDirectory(); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, grpcerr.Wrap(err, "create log directory "+dir)
		}
	}
	image, err := s.sandboxImage(ctx)
	if err != nil {
		return nil, err
	}
	config, hostConfig, err := s.sandboxDockerConfig(cfg, image, runtime, cgroupDriver)
	if err != nil {
		return nil, err
	}
	if h := req.GetRuntimeHandler(); h != "" {
		config.Labels[labelRuntimeHandler] = h
	}
	name := sandboxName(cfg.GetMetadata())

	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	id, err := s.createContainer(ctx, config, hostConfig, name)
	if err != nil {
		return nil, err
	}
	s.starting.add(id)
	defer s.starting.remove(id)
	// From here on a failure removes what was made (what can be removed now: see
	// discardSandbox): the kubelet will try a new sandbox.
	started := false
	defer func() {
		if !started {
			s.discardSandbox(id)
		}
	}()
	cp := &checkpoint.Sandbox{
		Own:          true,
		Name:         cfg.GetMetadata().GetName(),
		Namespace:    cfg.GetMetadata().GetNamespace(),
		Data:         &checkpoint.Data{PortMappings: checkpointPorts(cfg.GetPortMappings()), HostNetwork: hostNetwork(cfg)},
		LogDirectory: cfg.GetLogDirectory(),
	}
	if err := s.checkpoints.Save(id, cp); err != nil {
		return nil, grpcerr.Wrap(err, "checkpoint sandbox "+id)
	}
	if err := s.docker.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return nil, grpcerr.Wrap(err, "start sandbox "+name)
	}
	// One inspect of the started pause container serves the resolv.conf, the network
	// and the view (the next list shows the sandbox).
	insp, err := s.view.Refresh(ctx, id)
	if err != nil {
		return nil, grpcerr.Wrap(err, "inspect sandbox "+id)
	}
	// Docker makes the resolv.conf at start; the pause program never reads it, and the
	// pod's containers, which share it, come later.
	if !hostNetwork(cfg) {
		if err := writeResolvConf(insp, cfg.GetDnsConfig()); err != nil {
			return nil, err
		}
	}
	unlock := s.netLocks.lock(id)
	err = s.setUpNetwork(ctx, insp, cfg, cp)
	unlock()
	if err != nil {
		klog.ErrorS(err, "Set up the pod's network", "pod", klog.KRef(cfg.GetMetadata().GetNamespace(), cfg.GetMetadata().GetName()), "podSandboxID", id)
		return nil, err
	}
	started = true
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func validateSandboxConfig(cfg *runtimeapi.PodSandboxConfig) error {
	m := cfg.GetMetadata()
	if m.GetName() == "" || m.GetNamespace() == "" || m.GetUid() == "" {
		return status.Error(codes.InvalidArgument, "sandbox config needs metadata with name, namespace and uid")
	}
	for _, f := range []string{m.GetName(), m.GetNamespace(), m.GetUid()} {
		if err := checkNamePart("sandbox metadata", f); err != nil {
			return err
		}
	}
	if err := checkLabels("sandbox "+m.GetName(), cfg.GetLabels(), cfg.GetAnnotations()); err != nil {
		return err
	}
	// The pause container's container name label is dockershim's "POD".
	if _, ok := cfg.GetLabels()[labelContainerName]; ok {
		return status.Errorf(codes.InvalidArgument, "sandbox %s: label %q is the pause container's", m.GetName(), labelContainerName)
	}
	if err := checkEnums(cfg); err != nil {
		return err
	}
	if err := checkNoNUL("sandbox "+m.GetName(), cfg.GetHostname(), cfg.GetLogDirectory()); err != nil {
		return err
	}
	if err := checkLogDirectory(cfg.GetLogDirectory()); err != nil {
		return err
	}
	// The kernel takes a hostname of 64 bytes at most, and Docker writes it into the
	// container's /etc/hostname (and /etc/hosts, with an address), where a space or a
	// newline would make more names, or lines, of it.
	if h := cfg.GetHostname(); h != "" && (len(h) > 64 || !oneWord(h)) {
		return status.Errorf(codes.InvalidArgument, "hostname %q is not one word of 64 bytes at most", h)
	}
	if err := checkDNSConfig(cfg.GetDnsConfig()); err != nil {
		return err
	}
	if err := checkPortMappings(cfg.GetPortMappings()); err != nil {
		return err
	}
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if err := checkUserNamespace(ns); err != nil {
		return err
	}
	for name := range cfg.GetLinux().GetSysctls() {
		if err := checkSysctl(name, ns); err != nil {
			return status.Errorf(codes.InvalidArgument, "sysctl %s: %v", name, err)
		}
	}
	return nil
}

// sysctlName is the form of a sysctl's name Kubernetes validates (IsValidSysctlName):
// segments of [a-z0-9_-] between "." or "/". runc writes the file of /proc/sys the name
// makes, each "." a "/", so another name ("net..x", "net/../x", "net.x y") names no
// sysctl, and fails the start of the pause container.
var sysctlName = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

// checkSysctl accepts the sysctls a pod may set: those of the IPC and network
// namespaces, and only when the pod has its own of that namespace.
func checkSysctl(name string, ns *runtimeapi.NamespaceOption) error {
	if len(name) > 253 || !sysctlName.MatchString(name) {
		return errors.New("not a sysctl name")
	}
	name = strings.ReplaceAll(name, "/", ".")
	switch {
	case name == "kernel.sem" || strings.HasPrefix(name, "kernel.shm") || strings.HasPrefix(name, "kernel.msg") || strings.HasPrefix(name, "fs.mqueue."):
		if ns.GetIpc() == runtimeapi.NamespaceMode_NODE {
			return errors.New("an IPC sysctl in a pod that shares the host's IPC namespace")
		}
	case strings.HasPrefix(name, "net."):
		if ns.GetNetwork() == runtimeapi.NamespaceMode_NODE {
			return errors.New("a network sysctl in a host-network pod")
		}
	default:
		return errors.New("not namespaced: it would change the whole node")
	}
	return nil
}

// sandboxDockerConfig translates a sandbox config into the pause container's Docker config.
func (s *Service) sandboxDockerConfig(cfg *runtimeapi.PodSandboxConfig, image, runtime, cgroupDriver string) (*container.Config, *container.HostConfig, error) {
	parent, err := cgroupParent(cfg.GetLinux().GetCgroupParent(), cgroupDriver)
	if err != nil {
		return nil, nil, err
	}
	labels := dockerLabels(cfg.GetLabels(), cfg.GetAnnotations())
	labels[labelType] = typeSandbox
	labels[labelContainerName] = sandboxContainerName
	config := &container.Config{Image: image, Labels: labels}
	hc := &container.HostConfig{
		Runtime:     runtime,
		NetworkMode: "none",
		// Shareable: the pod's containers join this IPC namespace.
		IpcMode: "shareable",
		Sysctls: cfg.GetLinux().GetSysctls(),
		Resources: container.Resources{
			CPUShares:    sandboxCPUShares,
			CgroupParent: parent,
		},
	}
	oom := s.host.clampOOMScoreAdj(sandboxOOMScoreAdj)
	hc.OomScoreAdj = oom
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if ns.GetNetwork() == runtimeapi.NamespaceMode_NODE {
		hc.NetworkMode = "host"
	} else {
		// Docker refuses a hostname with the host's network: the pod has the host's.
		config.Hostname = cfg.GetHostname()
	}
	if ns.GetIpc() == runtimeapi.NamespaceMode_NODE {
		hc.IpcMode = "host"
	}
	switch ns.GetPid() {
	case runtimeapi.NamespaceMode_NODE:
		hc.PidMode = "host"
	case runtimeapi.NamespaceMode_POD:
		labels[labelSharedPID] = "true"
	}
	// The pod's security context applies to the pause container too (user, read-only
	// rootfs, seccomp, AppArmor, SELinux), as containerd applies it; privileged never:
	// pause needs nothing.
	ssc := cfg.GetLinux().GetSecurityContext()
	sc := &runtimeapi.LinuxContainerSecurityContext{
		RunAsUser: ssc.GetRunAsUser(), RunAsGroup: ssc.GetRunAsGroup(), SupplementalGroups: ssc.GetSupplementalGroups(),
		ReadonlyRootfs: ssc.GetReadonlyRootfs(), SelinuxOptions: ssc.GetSelinuxOptions(),
		Seccomp: ssc.GetSeccomp(), SeccompProfilePath: ssc.GetSeccompProfilePath(), Apparmor: ssc.GetApparmor(),
	}
	if err := s.applySecurityContext(sc, config, hc); err != nil {
		return nil, nil, err
	}
	// Docker's default masked and read-only paths: the kubelet sends none for the pod.
	hc.MaskedPaths, hc.ReadonlyPaths = nil, nil
	return config, hc, nil
}

// sandboxOOMScoreAdj keeps pause containers alive under memory pressure longer than
// anything but the node's daemons (as the kubelet's own value for them).
const sandboxOOMScoreAdj = -998

func hostNetwork(cfg *runtimeapi.PodSandboxConfig) bool {
	return cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE
}

func checkpointPorts(pms []*runtimeapi.PortMapping) []checkpoint.PortMapping {
	out := make([]checkpoint.PortMapping, 0, len(pms))
	for _, pm := range pms {
		out = append(out, checkpoint.PortMapping{
			Protocol:      strings.ToLower(pm.GetProtocol().String()),
			ContainerPort: pm.GetContainerPort(),
			HostPort:      pm.GetHostPort(),
			HostIP:        pm.GetHostIp(),
		})
	}
	return out
}

// discardSandbox removes a sandbox that failed half-way, best effort: its network
// first, if it got as far, then its container, then its checkpoint. What cannot be
// undone now stays for later, never forgotten: when the CNI DEL fails (one plugin of
// the chain failing its part holds what the others gave too), the sandbox stays,
// stopped, with the checkpoint that lets a DEL run again, and the kubelet, which sees
// it not ready, stops and removes it, each time trying the DEL, as the network sweep
// does; when Docker cannot remove the container, the checkpoint stays for the sweep.
func (s *Service) discardSandbox(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RuntimeRequestTimeout)
	defer cancel()
	defer s.refresh(ctx, id)
	unlock := s.netLocks.lock(id)
	defer unlock()
	if insp, err := s.docker.ContainerInspect(ctx, id); err == nil {
		if err := s.tearDownNetwork(ctx, insp); err != nil {
			klog.ErrorS(err, "Tear down the network of a failed sandbox; it stays, stopped, for Stop, Remove and the network sweep to try again", "podSandboxID", id)
			if err := s.stopDockerContainer(ctx, id, 0); err != nil {
				klog.ErrorS(err, "Stop failed sandbox", "podSandboxID", id)
			}
			return
		}
	}
	if err := s.removeFromDocker(ctx, id); err != nil {
		klog.ErrorS(err, "Remove failed sandbox; the network sweep removes its checkpoint once it is gone", "podSandboxID", id)
		return
	}
	cp, err := s.checkpoints.Load(id)
	if err != nil {
		klog.ErrorS(err, "Read checkpoint of failed sandbox", "podSandboxID", id)
	}
	if err := s.forgetSandbox(ctx, id, cp); err != nil {
		klog.ErrorS(err, "Forget failed sandbox; the network sweep tries again", "podSandboxID", id)
	}
}
