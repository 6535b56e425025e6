package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"
)

// The pods of dockershim and cri-dockerd (dockercri adopts them when a node moves to
// it) left no record of dockercri's: what they are attached to is in libcni's cache,
// one entry per network, each holding the network's config, the runtime arguments of
// the ADD (port mappings, bandwidth, ...) and its result. Those servers attached every
// pod to two networks, both with the interface name eth0: the node's pod network and
// loopbackNetwork, a loopback-only network of their own.

// loopbackNetwork is the name of dockershim's and cri-dockerd's loopback network.
const loopbackNetwork = "cni-loopback"

// attachments are the networks libcni's cache holds the pod id attached to.
func (m *Manager) attachments(id string) ([]*libcni.NetworkAttachment, error) {
	atts, err := m.cni.GetCachedAttachments(id)
	if err != nil {
		return nil, fmt.Errorf("read the CNI cache: %w", err)
	}
	return atts, nil
}

// CachedIPs are the pod's addresses, IPv4 first, as the plugins gave them at its ADD
// on the pod network, from libcni's cache; nil when the cache has none. It is for a pod
// another server set up: dockercri keeps its own pods' addresses in their checkpoints.
func (m *Manager) CachedIPs(id string) []string {
	atts, err := m.attachments(id)
	if err != nil {
		return nil
	}
	for _, a := range atts {
		if a.Network == loopbackNetwork || a.IfName != IfName {
			continue
		}
		// The result is kept in the cache in the config's CNI version.
		list, err := libcni.ConfListFromBytes(a.Config)
		if err != nil {
			continue
		}
		res, err := m.cni.GetNetworkListCachedResult(&libcni.NetworkConfigList{Name: a.Network, CNIVersion: list.CNIVersion}, &libcni.RuntimeConf{ContainerID: id, IfName: a.IfName})
		if err != nil || res == nil {
			continue
		}
		if ips, err := podIPs(res); err == nil {
			return ips
		}
	}
	return nil
}

// TearDownCached detaches the pod from every network libcni's cache holds it attached
// to (CNI DEL), each with the config and runtime arguments of its ADD and the pod's
// namespace of today: the pod network of a pod another server set up, with the port
// mappings its portmap rules were made for, and that server's loopback network. It
// returns how many networks the cache named; none is no error. Each DEL is tried, so
// that one failing leaves only its own network for the next try.
func (m *Manager) TearDownCached(ctx context.Context, pod Pod) (n int, err error) {
	atts, err := m.attachments(pod.ID)
	if err != nil || len(atts) == 0 {
		return 0, err
	}
	defer observe("DEL", time.Now(), &err)
	var errs []error
	for _, a := range atts {
		list, err := libcni.ConfListFromBytes(a.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("CNI DEL on network %s: the cached config: %w", a.Network, err))
			continue
		}
		rt := &libcni.RuntimeConf{ContainerID: a.ContainerID, NetNS: pod.NetNS, IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
		if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
			errs = append(errs, fmt.Errorf("CNI DEL on network %s: %w", a.Network, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return len(atts), err
	}
	if err := m.partial.drop(pod.ID); err != nil {
		return len(atts), fmt.Errorf("CNI DEL: forget the ADD's result: %w", err)
	}
	return len(atts), nil
}

// NetNSIPs are the global addresses of the pod's interface in the network namespace at
// path, IPv4 first: where dockershim and cri-dockerd read a pod's addresses, for a pod
// the CNI cache has no result of.
func NetNSIPs(path string) ([]string, error) {
	var v4, v6 []string
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		iface, err := net.InterfaceByName(IfName)
		if err != nil {
			return err
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			switch {
			case !ok || !ipn.IP.IsGlobalUnicast():
			case ipn.IP.To4() != nil:
				v4 = append(v4, ipn.IP.String())
			default:
				v6 = append(v6, ipn.IP.String())
			}
		}
		return nil
	})
	return append(v4, v6...), err
}
