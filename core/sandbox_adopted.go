package core

import (
	"context"

	"github.com/docker/docker/api/types/container"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/checkpoint"
	"github.com/dockercri/dockercri/network"
)

// Pods of the old server: a node moved from cri-dockerd or dockershim keeps its pods,
// which dockercri lists, stops and removes like its own (they carry the same names and
// labels). What it records of its own pods' networks, they have not: no checkpoint of
// dockercri's at all (the old server's stayed in its root directory), or the old
// server's own (--root-directory set to it), which holds the port mappings but names no
// network and no IP. What such a pod is attached to, with the config, port mappings and
// result of each ADD, is in libcni's cache, which the old server shared (the same
// --cni-cache-dir): its IPs and its DEL come from there.

// oldServers tells whether checkpoint cp is the old server's, or from a dockercri
// before checkpoint.Sandbox.Own: it names no network of a pod that is not on the
// node's network, which does not tell whether the pod has one.
func oldServers(cp *checkpoint.Sandbox) bool {
	return !cp.Own && cp.Network == "" && (cp.Data == nil || !cp.Data.HostNetwork)
}

// networkPending tells whether the pod of checkpoint cp may hold what the plugins gave
// it: its DEL is due.
func networkPending(cp *checkpoint.Sandbox) bool {
	return !cp.NetworkTornDown && (cp.Network != "" || oldServers(cp))
}

// sandboxIPs are the pod's IPs, primary first: those its checkpoint recorded at the
// ADD; for a pod of the old server, those the plugins gave it as the CNI cache holds
// them, else those in its running network namespace (where the old server read them).
func (s *Service) sandboxIPs(insp container.InspectResponse, cp *checkpoint.Sandbox) []string {
	switch {
	case cp != nil && (len(cp.IPs) > 0 || !oldServers(cp) || cp.NetworkTornDown):
		return cp.IPs
	case insp.HostConfig == nil || insp.HostConfig.NetworkMode.IsHost():
		return nil
	}
	if ips := s.network.CachedIPs(insp.ID); len(ips) > 0 {
		return ips
	}
	netns := netnsPath(insp)
	if netns == "" {
		return nil
	}
	ips, err := network.NetNSIPs(netns)
	if err != nil {
		klog.V(4).InfoS("Read the pod's IPs in its network namespace", "podSandboxID", insp.ID, "err", err)
	}
	return ips
}

// podDEL runs the CNI DEL of pod, whose checkpoint is cp (nil: none), with the port
// mappings the checkpoint holds: on the network the checkpoint names; for a pod of the
// old server, on each network the CNI cache names, with the config and arguments of
// its ADD (its pod network, with the port mappings of its hostPort rules, and the old
// server's cni-loopback), else, as the old server did, on the current config.
func (s *Service) podDEL(ctx context.Context, pod network.Pod, cp *checkpoint.Sandbox) error {
	if cp != nil && cp.Data != nil {
		pod.PortMappings = cniPorts(cp.Data.PortMappings)
	}
	if cp != nil && cp.Network != "" {
		return s.network.TearDown(ctx, pod, cp.Network)
	}
	n, err := s.network.TearDownCached(ctx, pod)
	if err != nil || n > 0 || !s.network.Enabled() {
		return err
	}
	return s.network.TearDown(ctx, pod, "")
}
