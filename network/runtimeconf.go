package network

import (
	"fmt"
	"math"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The pod annotations the kubelet's bandwidth limits come in.
const (
	ingressBandwidthAnnotation = "kubernetes.io/ingress-bandwidth"
	egressBandwidthAnnotation  = "kubernetes.io/egress-bandwidth"
)

// runtimeConf is the CNI call for pod: the kubelet's CNI_ARGS and the runtime config of
// the capabilities a config may ask for (libcni passes each plugin only those it
// declares).
func (m *Manager) runtimeConf(pod Pod) (*libcni.RuntimeConf, error) {
	caps := map[string]any{}
	if len(pod.PortMappings) > 0 {
		caps["portMappings"] = pod.PortMappings
	}
	bw, err := bandwidth(pod.Annotations)
	if err != nil {
		return nil, err
	}
	if bw != nil {
		caps["bandwidth"] = bw
	}
	if ranges := ipRanges(m.PodCIDR()); ranges != nil {
		caps["ipRanges"] = ranges
	}
	if pod.DNS != nil {
		caps["dns"] = pod.DNS
	}
	return &libcni.RuntimeConf{
		ContainerID: pod.ID,
		NetNS:       pod.NetNS,
		IfName:      IfName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", pod.ID},
			{"K8S_POD_UID", pod.UID},
		},
		CapabilityArgs: caps,
	}, nil
}

// bandwidthLimits is the CNI bandwidth capability, in bits per second.
type bandwidthLimits struct {
	IngressRate  uint64 `json:"ingressRate,omitempty"`
	IngressBurst uint64 `json:"ingressBurst,omitempty"`
	EgressRate   uint64 `json:"egressRate,omitempty"`
	EgressBurst  uint64 `json:"egressBurst,omitempty"`
}

// bandwidth reads the pod's bandwidth annotations (quantities such as "10M"); nil when
// there are none. The burst is unbounded, as the kubelet's CNI plugin set it.
func bandwidth(annotations map[string]string) (*bandwidthLimits, error) {
	var bw bandwidthLimits
	for key, rate := range map[string]*uint64{ingressBandwidthAnnotation: &bw.IngressRate, egressBandwidthAnnotation: &bw.EgressRate} {
		v, ok := annotations[key]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			// The pod's own mistake, not the network's: errdefs' class says so (InvalidArgument).
			return nil, fmt.Errorf("annotation %s=%q: not a positive quantity: %w", key, v, cerrdefs.ErrInvalidArgument)
		}
		*rate = uint64(q.Value())
	}
	if bw.IngressRate == 0 && bw.EgressRate == 0 {
		return nil, nil
	}
	if bw.IngressRate > 0 {
		bw.IngressBurst = math.MaxInt32
	}
	if bw.EgressRate > 0 {
		bw.EgressBurst = math.MaxInt32
	}
	return &bw, nil
}

// ipRange is one range of the CNI ipRanges capability.
type ipRange struct {
	Subnet string `json:"subnet"`
}

// ipRanges makes the node's pod CIDRs ("10.244.1.0/24" or a dual-stack pair separated
// by a comma) one range set each, as host-local reads them.
func ipRanges(podCIDR string) [][]ipRange {
	var out [][]ipRange
	for _, cidr := range strings.Split(podCIDR, ",") {
		if cidr = strings.TrimSpace(cidr); cidr != "" {
			out = append(out, []ipRange{{Subnet: cidr}})
		}
	}
	return out
}

// podIPs are the addresses the plugins gave the pod's interface, IPv4 first.
func podIPs(res types.Result) ([]string, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("read the plugin's result: %w", err)
	}
	var v4, v6 []string
	for _, ip := range r.IPs {
		// An address on a host-side interface (a plugin may report the bridge's) is
		// not the pod's.
		if ip.Interface != nil && *ip.Interface >= 0 && *ip.Interface < len(r.Interfaces) && r.Interfaces[*ip.Interface].Sandbox == "" {
			continue
		}
		if ip.Address.IP.To4() != nil {
			v4 = append(v4, ip.Address.IP.String())
		} else if ip.Address.IP.To16() != nil {
			v6 = append(v6, ip.Address.IP.String())
		}
	}
	ips := append(v4, v6...)
	if len(ips) == 0 {
		return nil, fmt.Errorf("the plugins gave the pod no IP address")
	}
	return ips, nil
}
