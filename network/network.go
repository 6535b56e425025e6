// Package network gives pods their network through CNI plugins (libcni), as the kubelet's
// CNI network plugin did for dockershim: the pause container starts with no Docker
// network and the plugins wire up its network namespace.
package network

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/dockercri/dockercri/core/checkpoint"
	"github.com/dockercri/dockercri/metrics"
)

// IfName is the pod's interface inside its network namespace.
const IfName = "eth0"

// Options are the node's network settings, from dockercri's flags.
type Options struct {
	// Plugin is "cni", or "" for Docker's none network (loopback only).
	Plugin   string
	ConfDir  string
	BinDirs  []string
	CacheDir string
	// StateDir keeps what the plugins gave an ADD not yet whole or undone (see
	// partialResults); empty: not kept.
	StateDir string
}

// Manager sets pod networks up and tears them down.
type Manager struct {
	opts    Options
	cni     *libcni.CNIConfig
	conf    configCache
	partial *partialResults

	mu      sync.Mutex
	podCIDR string
}

// NewManager returns the network manager for opts.
func NewManager(opts Options) *Manager {
	partial := &partialResults{dir: opts.StateDir}
	return &Manager{
		opts:    opts,
		cni:     libcni.NewCNIConfigWithCacheDir(opts.BinDirs, opts.CacheDir, newPluginExec(partial)),
		conf:    configCache{dir: opts.ConfDir, binDirs: opts.BinDirs},
		partial: partial,
	}
}

// RemoveTemps removes the temporary files of result writes a kill cut short; for
// start-up.
func (m *Manager) RemoveTemps() error {
	if m.opts.StateDir == "" {
		return nil
	}
	return checkpoint.RemoveTemps(m.opts.StateDir)
}

// Enabled tells whether pods get their network from CNI.
func (m *Manager) Enabled() bool { return m.opts.Plugin != "" }

// SetPodCIDR keeps the node's pod CIDR, as the kubelet sends it with UpdateRuntimeConfig.
func (m *Manager) SetPodCIDR(cidr string) {
	m.mu.Lock()
	m.podCIDR = cidr
	m.mu.Unlock()
}

// PodCIDR is the node's pod CIDR, empty until the kubelet sent one.
func (m *Manager) PodCIDR() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.podCIDR
}

// Ready returns nil when pods can get a network, else what is missing.
func (m *Manager) Ready() error {
	if !m.Enabled() {
		return nil
	}
	_, err := m.conf.current()
	return err
}

// Name is the name of the network pods are attached to now.
func (m *Manager) Name() (string, error) {
	list, err := m.conf.current()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotReady, err)
	}
	return list.Name, nil
}

// Pod is what CNI needs to know of a pod.
type Pod struct {
	// ID is the sandbox's id: the CNI container id.
	ID, Name, Namespace, UID string
	// NetNS is the path of the pod's network namespace; "" when it is gone, for a
	// teardown that still frees what the plugins hold (IP addresses, rules).
	NetNS        string
	PortMappings []PortMapping
	// Annotations of the pod: the bandwidth limits are read from them.
	Annotations map[string]string
	DNS         *DNS
}

// PortMapping is a pod's port, in the shape of the CNI portMappings capability.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// DNS is the pod's DNS config, for the CNI dns capability.
type DNS struct {
	Servers  []string `json:"servers,omitempty"`
	Searches []string `json:"searches,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// Attachment is a pod's network once set up.
type Attachment struct {
	// Network is the name of the CNI network the pod is attached to.
	Network string
	// IPs are the pod's addresses, IPv4 first: the first is the primary.
	IPs []string
}

// ErrNotReady: there is no usable network config.
var ErrNotReady = errors.New("network not ready")

// SetUp attaches the pod to the network of the first valid config (CNI ADD). A failed
// ADD is undone (DEL) before SetUp returns, so that nothing is left behind.
func (m *Manager) SetUp(ctx context.Context, pod Pod) (_ *Attachment, err error) {
	defer observe("ADD", time.Now(), &err)
	list, err := m.conf.current()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotReady, err)
	}
	rt, err := m.runtimeConf(pod)
	if err != nil {
		return nil, err
	}
	res, err := m.cni.AddNetworkList(ctx, list, rt)
	if err == nil {
		var ips []string
		if ips, err = podIPs(res); err == nil {
			// libcni keeps the whole result now.
			_ = m.partial.drop(pod.ID)
			return &Attachment{Network: list.Name, IPs: ips}, nil
		}
	}
	if delErr := m.cni.DelNetworkList(context.WithoutCancel(ctx), list, rt); delErr != nil {
		err = fmt.Errorf("%w; undoing it failed too: %v", err, delErr)
	} else {
		_ = m.partial.drop(pod.ID)
	}
	return nil, fmt.Errorf("CNI ADD on network %s: %w", list.Name, err)
}

// TearDown detaches the pod from network (CNI DEL). It uses the config and runtime
// arguments libcni cached at ADD when it has them, so that a config changed since does
// not leak what the old one allocated; else the current config. DEL is idempotent.
func (m *Manager) TearDown(ctx context.Context, pod Pod, network string) (err error) {
	defer observe("DEL", time.Now(), &err)
	rt, err := m.runtimeConf(pod)
	if err != nil {
		return err
	}
	list, cachedRT := m.cachedConfig(network, rt)
	if list == nil {
		if list, err = m.conf.current(); err != nil {
			return fmt.Errorf("%w: %v", ErrNotReady, err)
		}
	} else if cachedRT != nil {
		// The arguments of the ADD, with today's namespace path.
		cachedRT.NetNS = rt.NetNS
		rt = cachedRT
	}
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("CNI DEL on network %s: %w", list.Name, err)
	}
	if err := m.partial.drop(pod.ID); err != nil {
		return fmt.Errorf("CNI DEL on network %s: forget the ADD's result: %w", list.Name, err)
	}
	return nil
}

// observe records a CNI operation's latency and result in the metrics.
func observe(op string, start time.Time, err *error) {
	result := "ok"
	if *err != nil {
		result = "error"
	}
	metrics.CNIDuration.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

// cachedConfig is the config of network as libcni cached it at the pod's ADD.
func (m *Manager) cachedConfig(network string, rt *libcni.RuntimeConf) (*libcni.NetworkConfigList, *libcni.RuntimeConf) {
	if network == "" {
		return nil, nil
	}
	b, cachedRT, err := m.cni.GetNetworkListCachedConfig(&libcni.NetworkConfigList{Name: network}, rt)
	if err != nil || len(b) == 0 {
		return nil, nil
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return nil, nil
	}
	return list, cachedRT
}
