package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
)

// configCache loads the first valid network config of a directory and loads it again
// when the directory's files change, so that a config written, broken or fixed on a
// running node is picked up without a restart (as the kubelet's CNI plugin did).
type configCache struct {
	dir     string
	binDirs []string

	mu   sync.Mutex
	sig  string
	list *libcni.NetworkConfigList
	err  error
}

// current is the config in use, or why there is none.
func (c *configCache) current() (*libcni.NetworkConfigList, error) {
	sig := dirSignature(c.dir)
	c.mu.Lock()
	defer c.mu.Unlock()
	if sig != c.sig {
		c.list, c.err = loadFirstConfig(c.dir, c.binDirs)
		c.sig = sig
	}
	return c.list, c.err
}

// dirSignature changes whenever a config file of dir is added, removed or rewritten.
func dirSignature(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "error:" + err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s %d %d;", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	// A file rewritten within the file system's time granularity keeps its size and
	// time: look again at least every few seconds anyway.
	fmt.Fprintf(&b, "%d", time.Now().Unix()/5)
	return b.String()
}

// loadFirstConfig returns the first valid network config in dir, in lexical order of
// file names, as the kubelet's CNI plugin chose it. Valid: it parses, has plugins, and
// each plugin's binary is in one of binDirs.
func loadFirstConfig(dir string, binDirs []string) (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("read CNI config dir %s: %w", dir, err)
	}
	sort.Strings(files)
	var problems []error
	for _, f := range files {
		list, err := loadConfigFile(f)
		if err == nil {
			err = checkPlugins(list, binDirs)
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", filepath.Base(f), err))
			continue
		}
		return list, nil
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("no valid CNI config in %s: %w", dir, errors.Join(problems...))
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
		return nil, err
	}
	if len(list.Plugins) == 0 {
		return nil, errors.New("no plugins")
	}
	return list, nil
}

// checkPlugins finds the binary of each plugin of list.
func checkPlugins(list *libcni.NetworkConfigList, binDirs []string) error {
	for _, p := range list.Plugins {
		if !pluginExists(p.Network.Type, binDirs) {
			return fmt.Errorf("plugin %q not found in %s", p.Network.Type, strings.Join(binDirs, ", "))
		}
	}
	return nil
}

func pluginExists(name string, binDirs []string) bool {
	if name == "" || strings.ContainsRune(name, '/') {
		return false
	}
	for _, d := range binDirs {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}
