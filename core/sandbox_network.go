package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/checkpoint"
	"github.com/dockercri/dockercri/core/grpcerr"
	"github.com/dockercri/dockercri/network"
)

// setUpNetwork attaches a started sandbox to the pod network (CNI ADD on the pause
// container's network namespace) and checkpoints its IPs. The network's name is
// checkpointed before the ADD, so that a crash in between still leads to a DEL.
func (s *Service) setUpNetwork(ctx context.Context, insp *container.InspectResponse, cfg *runtimeapi.PodSandboxConfig, cp *checkpoint.Sandbox) error {
	id := insp.ID
	if hostNetwork(cfg) || !s.network.Enabled() {
		return nil
	}
	name, err := s.network.Name()
	if err != nil {
		return networkError(err, "sandbox "+id)
	}
	cp.Network = name
	if err := s.checkpoints.Save(id, cp); err != nil {
		return grpcerr.Wrap(err, "checkpoint sandbox "+id)
	}
	netns := netnsPath(*insp)
	if netns == "" {
		return status.Errorf(codes.Internal, "sandbox %s stopped before its network was set up", id)
	}
	pin := s.netnsPin(id)
	if err := pinNetNS(pin, insp.State.Pid); err != nil {
		klog.ErrorS(err, "Give the plugins the pause process's network namespace unpinned", "podSandboxID", id)
	} else {
		netns = pin
	}
	m := cfg.GetMetadata()
	pod := network.Pod{
		ID: id, Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUid(), NetNS: netns,
		PortMappings: cniPorts(cp.Data.PortMappings),
		Annotations:  cfg.GetAnnotations(),
	}
	if dns := cfg.GetDnsConfig(); dns != nil {
		pod.DNS = &network.DNS{Servers: dns.GetServers(), Searches: dns.GetSearches(), Options: dns.GetOptions()}
	}
	att, err := s.network.SetUp(ctx, pod)
	if err != nil {
		return networkError(err, "sandbox "+id)
	}
	cp.IPs = att.IPs
	if err := s.checkpoints.Save(id, cp); err != nil {
		return grpcerr.Wrap(err, "checkpoint sandbox "+id)
	}
	return nil
}

// tearDownNetwork detaches a sandbox from the pod network (CNI DEL), once: the
// checkpoint records that it was done. It works on a stopped sandbox too (in its pinned
// namespace; without one the plugins free what they can), and on a pod of the old
// server (cri-dockerd, dockershim), whose networks the CNI cache tells (podDEL).
func (s *Service) tearDownNetwork(ctx context.Context, insp container.InspectResponse) error {
	cp, err := s.checkpoints.Load(insp.ID)
	if err != nil {
		klog.ErrorS(err, "Read sandbox checkpoint; tearing its network down anyway", "podSandboxID", insp.ID)
		cp = nil
	}
	switch {
	case cp != nil && !networkPending(cp):
		return nil
	case cp == nil && (insp.HostConfig == nil || insp.HostConfig.NetworkMode.IsHost()):
		return nil
	}
	meta, err := parseSandboxName(insp.Name)
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "sandbox %s: %v", insp.ID, err)
	}
	pod := network.Pod{ID: insp.ID, Name: meta.GetName(), Namespace: meta.GetNamespace(), UID: meta.GetUid(), NetNS: s.podNetNS(insp.ID, netnsPath(insp))}
	if err := s.podDEL(ctx, pod, cp); err != nil {
		return networkError(err, "sandbox "+insp.ID)
	}
	// Unpinned before the checkpoint says the DEL is done: a crash in between leads to
	// one more DEL (idempotent), never to a pin nothing would drop.
	s.dropNetNS(insp.ID)
	if cp != nil {
		cp.NetworkTornDown = true
		if err := s.checkpoints.Save(insp.ID, cp); err != nil {
			return grpcerr.Wrap(err, "checkpoint sandbox "+insp.ID)
		}
	}
	return nil
}

// netnsPath is the network namespace of a running container's process, "" when it
// does not run.
func netnsPath(insp container.InspectResponse) string {
	if insp.State == nil || !insp.State.Running || insp.State.Pid <= 0 {
		return ""
	}
	return fmt.Sprintf("/proc/%d/ns/net", insp.State.Pid)
}

// checkPortMappings refuses port mappings CNI's portmap plugin would fail on, after
// the sandbox was made: ports outside 0-65535, a host IP that is no IP address.
func checkPortMappings(pms []*runtimeapi.PortMapping) error {
	for _, pm := range pms {
		if pm.GetContainerPort() < 0 || pm.GetContainerPort() > 65535 || pm.GetHostPort() < 0 || pm.GetHostPort() > 65535 {
			return status.Errorf(codes.InvalidArgument, "port mapping %d:%d: a port is outside 0-65535", pm.GetHostPort(), pm.GetContainerPort())
		}
		if _, err := netip.ParseAddr(pm.GetHostIp()); pm.GetHostIp() != "" && err != nil {
			return status.Errorf(codes.InvalidArgument, "port mapping %d:%d: host IP %q is not an IP address", pm.GetHostPort(), pm.GetContainerPort(), pm.GetHostIp())
		}
	}
	return nil
}

// cniPorts are the pod's ports that CNI maps: those with a host port. The kubelet sends
// every declared containerPort, most with host port 0, which only documents the port;
// the portmap plugin rejects a host port 0 (failing the ADD, and the DEL that should
// undo it), so, as dockershim and containerd do, only host ports > 0 reach CNI.
func cniPorts(pms []checkpoint.PortMapping) []network.PortMapping {
	out := make([]network.PortMapping, 0, len(pms))
	for _, pm := range pms {
		if pm.HostPort <= 0 {
			continue
		}
		out = append(out, network.PortMapping{HostPort: pm.HostPort, ContainerPort: pm.ContainerPort, Protocol: pm.Protocol, HostIP: pm.HostIP})
	}
	return out
}

// networkError is a network failure as a gRPC status: no usable config is a failed
// precondition; a plugin's error has the code of its class (grpcerr: its CNI error
// code, a deadline, a bad pod annotation), else Internal.
func networkError(err error, what string) error {
	if errors.Is(err, network.ErrNotReady) {
		return status.Errorf(codes.FailedPrecondition, "%s: %v", what, err)
	}
	return grpcerr.Wrap(err, what)
}
