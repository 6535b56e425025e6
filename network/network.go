// Package network gives pods their network through CNI plugins.
package network

import (
	"fmt"
	"path/filepath"
	"sort"
	"sync"

	"github.com/containernetworking/cni/libcni"
)

// Manager holds the node's pod network settings.
type Manager struct {
	plugin  string
	confDir string

	mu      sync.Mutex
	podCIDR string
}

// NewManager returns the network manager for plugin ("cni", or "" for Docker's none network).
func NewManager(plugin, confDir string) *Manager {
	return &Manager{plugin: plugin, confDir: confDir}
}

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
	if m.plugin == "" {
		return nil
	}
	_, err := loadFirstConfig(m.confDir)
	return err
}

// loadFirstConfig returns the first valid network configuration in dir, in lexical
// order of file names, as the kubelet's CNI plugins have always chosen it.
func loadFirstConfig(dir string) (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("read CNI config dir %s: %w", dir, err)
	}
	sort.Strings(files)
	var problems []error
	for _, f := range files {
		list, err := loadConfigFile(f)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		return list, nil
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("no valid CNI config in %s: %v", dir, problems)
	}
	return nil, fmt.Errorf("no CNI config in %s", dir)
}

func loadConfigFile(file string) (*libcni.NetworkConfigList, error) {
	var list *libcni.NetworkConfigList
	var err error
	if filepath.Ext(file) == ".conflist" {
		list, err = libcni.ConfListFromFile(file)
	} else {
		var conf *libcni.NetworkConfig
		if conf, err = libcni.ConfFromFile(file); err == nil {
			list, err = libcni.ConfListFromConf(conf)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(list.Plugins) == 0 {
		return nil, fmt.Errorf("%s: no plugins", file)
	}
	return list, nil
}
