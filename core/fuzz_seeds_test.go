package core

import (
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The fuzz targets' seeds: requests as the kubelet sends them for a Deployment's pod, a
// host-network static pod and a privileged DaemonSet pod, as critest sends them, and
// the hostile ones e2e TestHostileRequestsRefused sends. Each target adds them
// protobuf-encoded; testdata/fuzz holds what the fuzzer found.

const seedUID = "5f0a3c1e-7b9d-4e2a-9c61-3d8f2b7a4e10"

// seedPod is a Deployment's pod as the kubelet asks for it (cgroupfs driver).
func seedPod() *runtimeapi.PodSandboxConfig {
	name := "web-7d9f8b6c5-abcde"
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: seedUID},
		Hostname:     name,
		LogDirectory: "/var/log/pods/default_" + name + "_" + seedUID,
		DnsConfig: &runtimeapi.DNSConfig{
			Servers:  []string{"10.96.0.10"},
			Searches: []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"},
			Options:  []string{"ndots:5"},
		},
		PortMappings: []*runtimeapi.PortMapping{
			{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080},
			{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 53, HostPort: 5353, HostIp: "127.0.0.1"},
		},
		Labels: map[string]string{
			"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": "default", "io.kubernetes.pod.uid": seedUID,
			"app": "web", "pod-template-hash": "7d9f8b6c5",
		},
		Annotations: map[string]string{
			"kubernetes.io/config.seen": "2026-12-01T10:00:00.000000000Z", "kubernetes.io/config.source": "api",
		},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/kubepods/burstable/pod" + seedUID,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions:   &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}},
				Seccomp:            &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
				RunAsUser:          &runtimeapi.Int64Value{Value: 1000},
				RunAsGroup:         &runtimeapi.Int64Value{Value: 3000},
				SupplementalGroups: []int64{2000},
			},
			Sysctls:   map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"},
			Overhead:  &runtimeapi.LinuxContainerResources{},
			Resources: &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512, MemoryLimitInBytes: 128 << 20},
		},
	}
}

// seedHostPod is a static pod on the host's network, PID and IPC (systemd driver).
func seedHostPod() *runtimeapi.PodSandboxConfig {
	cfg := seedPod()
	cfg.Metadata = &runtimeapi.PodSandboxMetadata{Name: "kube-proxy-node1", Namespace: "kube-system", Uid: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Attempt: 2}
	cfg.Hostname = ""
	cfg.DnsConfig = nil
	cfg.PortMappings = nil
	cfg.Linux.CgroupParent = "kubepods-besteffort-pod0f1e2d3c4b5a69788796a5b4c3d2e1f0.slice"
	cfg.Linux.Sysctls = nil
	cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE},
		Privileged:       true,
	}
	cfg.Annotations["kubernetes.io/config.source"] = "file"
	return cfg
}

func sandboxSeeds() []*runtimeapi.RunPodSandboxRequest {
	critest := seedPod()
	critest.Metadata = &runtimeapi.PodSandboxMetadata{Name: "PodSandbox-for-create-container-" + seedUID, Namespace: "cri-test-namespace" + seedUID, Uid: seedUID, Attempt: 1}
	critest.Linux = nil
	critest.DnsConfig = nil
	ipc := seedPod()
	ipc.Linux.SecurityContext.NamespaceOptions = &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_POD, Ipc: runtimeapi.NamespaceMode_POD}
	ipc.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1", "kernel.msgmax": "65536", "net.core.somaxconn": "1024"}
	ipc.Linux.SecurityContext.SeccompProfilePath = "localhost//etc/hostname"
	ipc.Linux.SecurityContext.Seccomp = nil
	ipc.Linux.SecurityContext.Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "k8s-apparmor-example"}
	ipc.Linux.SecurityContext.SelinuxOptions = &runtimeapi.SELinuxOption{User: "system_u", Role: "system_r", Type: "spc_t", Level: "s0:c1,c2"}
	ipc.Linux.SecurityContext.ReadonlyRootfs = true
	// The hostile ones, each refused.
	relative := seedPod()
	relative.LogDirectory = "../../tmp/dcri-relative"
	badKey := seedPod()
	badKey.Labels["bad key!"] = "v"
	longValue := seedPod()
	longValue.Labels["app"] = strings.Repeat("v", 64)
	underscore := seedPod()
	underscore.Metadata.Name = "web_1"
	nodeSysctl := seedPod()
	nodeSysctl.Linux.Sysctls = map[string]string{"kernel.panic": "1"}
	noMeta := seedPod()
	noMeta.Metadata = nil
	return []*runtimeapi.RunPodSandboxRequest{
		{Config: seedPod()},
		{Config: seedHostPod(), RuntimeHandler: "runc"},
		{Config: critest, RuntimeHandler: "kata"},
		{Config: ipc},
		{Config: seedPod(), RuntimeHandler: "no-such-runtime"},
		{Config: relative}, {Config: badKey}, {Config: longValue}, {Config: underscore}, {Config: nodeSysctl}, {Config: noMeta},
		{},
	}
}

// seedContainer is a Deployment's container as the kubelet asks for it: a projected
// service account token, /etc/hosts, the termination log, resource limits and the
// restricted Pod Security Standard's security context.
func seedContainer() *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: "app"},
		Image:      &runtimeapi.ImageSpec{Image: "sha256:" + strings.Repeat("4f", 32), UserSpecifiedImage: "nginx:1.27"},
		Command:    []string{"/docker-entrypoint.sh"},
		Args:       []string{"nginx", "-g", "daemon off;"},
		WorkingDir: "/usr/share/nginx/html",
		Envs: []*runtimeapi.KeyValue{
			{Key: "KUBERNETES_SERVICE_HOST", Value: []byte("10.96.0.1")}, {Key: "KUBERNETES_SERVICE_PORT", Value: []byte("443")},
			{Key: "GREETING", Value: []byte("a=b c")}, {Key: "EMPTY"},
		},
		Mounts: []*runtimeapi.Mount{
			{ContainerPath: "/var/run/secrets/kubernetes.io/serviceaccount", HostPath: "/etc", Readonly: true, SelinuxRelabel: true},
			{ContainerPath: "/etc/hosts", HostPath: "/etc/hosts"},
			{ContainerPath: "/dev/termination-log", HostPath: "/tmp"},
			{ContainerPath: "/var/lib/shared", HostPath: "/tmp", Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		},
		Labels: map[string]string{
			"io.kubernetes.container.name": "app", "io.kubernetes.pod.name": "web-7d9f8b6c5-abcde",
			"io.kubernetes.pod.namespace": "default", "io.kubernetes.pod.uid": seedUID,
		},
		Annotations: map[string]string{
			"io.kubernetes.container.hash": "a1b2c3d4", "io.kubernetes.container.restartCount": "0",
			"io.kubernetes.container.terminationMessagePath": "/dev/termination-log", "io.kubernetes.container.terminationMessagePolicy": "File",
			"io.kubernetes.pod.terminationGracePeriod": "30",
		},
		LogPath: "app/0.log",
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{
				CpuPeriod: 100000, CpuQuota: 20000, CpuShares: 204, MemoryLimitInBytes: 256 << 20, OomScoreAdj: 968,
				HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB"}, {PageSize: "1GB"}},
			},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}},
				RunAsUser:        &runtimeapi.Int64Value{Value: 101},
				RunAsGroup:       &runtimeapi.Int64Value{Value: 101},
				NoNewPrivs:       true,
				Capabilities:     &runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"NET_BIND_SERVICE"}},
				MaskedPaths:      []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"},
				ReadonlyPaths:    []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
				Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
				Apparmor:         &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			},
		},
		StopSignal: runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT,
	}
}

func containerSeeds() []*runtimeapi.CreateContainerRequest {
	req := func(c *runtimeapi.ContainerConfig) *runtimeapi.CreateContainerRequest {
		return &runtimeapi.CreateContainerRequest{PodSandboxId: strings.Repeat("ab", 32), Config: c, SandboxConfig: seedPod()}
	}
	// A DaemonSet's privileged container: every device, /sys, a bidirectional mount.
	privileged := seedContainer()
	privileged.Metadata = &runtimeapi.ContainerMetadata{Name: "csi-node", Attempt: 3}
	privileged.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{Privileged: true, RunAsUser: &runtimeapi.Int64Value{}}
	privileged.Mounts = append(privileged.Mounts, &runtimeapi.Mount{ContainerPath: "/var/lib/kubelet", HostPath: "/tmp", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL})
	privileged.Devices = []*runtimeapi.Device{{ContainerPath: "/dev/fuse", HostPath: "/dev/fuse", Permissions: "rw"}, {ContainerPath: "/dev/null", HostPath: "/dev/null"}}
	privileged.CDIDevices = []*runtimeapi.CDIDevice{{Name: "nvidia.com/gpu=0"}}
	// An ephemeral debug container: the target's PID namespace, a TTY, stdin.
	debug := seedContainer()
	debug.Metadata = &runtimeapi.ContainerMetadata{Name: "debugger-x7k2p"}
	debug.Command, debug.Args, debug.Envs, debug.Mounts = []string{"sh"}, nil, nil, nil
	debug.Stdin, debug.StdinOnce, debug.Tty = true, true, true
	debug.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET, TargetId: strings.Repeat("cd", 32)},
		Capabilities:     &runtimeapi.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"sys_admin"}},
		Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined},
		RunAsUsername:    "nobody",
	}
	// Image volumes, recursive read-only, a stop signal, deprecated profile fields.
	volumes := seedContainer()
	volumes.Mounts = []*runtimeapi.Mount{
		{ContainerPath: "/models", Image: &runtimeapi.ImageSpec{Image: "sha256:" + strings.Repeat("9e", 32)}, ImageSubPath: "weights/v1", Readonly: true},
		{ContainerPath: "/ro", HostPath: "/etc", Readonly: true, RecursiveReadOnly: true},
	}
	volumes.StopSignal = runtimeapi.Signal_SIGNAL_SIGRTMINPLUS3
	volumes.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{
		SeccompProfilePath: "localhost//etc/hostname", ApparmorProfile: "localhost/k8s-apparmor-example",
		SelinuxOptions:   &runtimeapi.SELinuxOption{Type: "container_t", Level: "s0:c10,c20"},
		NamespaceOptions: &runtimeapi.NamespaceOption{Ipc: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_NODE},
	}
	volumes.Linux.Resources.CpusetCpus, volumes.Linux.Resources.CpusetMems = "0-1", "0"
	// critest's: no log directory in the sandbox config, a log path of its own.
	critest := seedContainer()
	critest.Metadata = &runtimeapi.ContainerMetadata{Name: "container-for-create-test-" + seedUID}
	critest.Linux = nil
	critestReq := req(critest)
	critestReq.SandboxConfig = nil
	// The hostile ones, each refused.
	var hostile []*runtimeapi.CreateContainerRequest
	for _, logPath := range []string{"../../../../../../../../tmp/escape.log", "/tmp/escape.log"} {
		c := seedContainer()
		c.LogPath = logPath
		hostile = append(hostile, req(c))
	}
	badKey := seedContainer()
	badKey.Labels["bad key!"] = "v"
	noImage := seedContainer()
	noImage.Image = nil
	missing := seedContainer()
	missing.Mounts = []*runtimeapi.Mount{{ContainerPath: "/x", HostPath: "/no/such/dir"}}
	hugepages := seedContainer()
	hugepages.Linux.Resources.HugepageLimits = []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 1 << 21}}
	unified := seedContainer()
	unified.Linux.Resources.Unified = map[string]string{"memory.high": "1G"}
	groupOnly := seedContainer()
	groupOnly.Linux.SecurityContext.RunAsUser = nil
	hostile = append(hostile, req(badKey), req(noImage), req(missing), req(hugepages), req(unified), req(groupOnly), &runtimeapi.CreateContainerRequest{})
	return append([]*runtimeapi.CreateContainerRequest{req(seedContainer()), req(privileged), req(debug), req(volumes), critestReq}, hostile...)
}
