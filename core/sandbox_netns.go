package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// A pod's network namespace is pinned, from just before its CNI ADD to just after its
// DEL, by a bind mount of the pause process's namespace at <root>/netns/<sandbox id>,
// and the plugins are given that path. Docker holds no reference to a container's
// namespace once its process exits, so without the pin a pause container that died
// before its pod was stopped took the pod's interface with it, and the bridge plugin,
// which finds the pod's masquerading rules by that interface's addresses, left them
// behind. containerd and CRI-O pin the namespaces they make in the same way.

// netnsDir holds the pins, one file per sandbox.
func (s *Service) netnsDir() string { return filepath.Join(s.cfg.RootDirectory, "netns") }

// netnsPin is where sandbox id's network namespace is pinned.
func (s *Service) netnsPin(id string) string { return filepath.Join(s.netnsDir(), id) }

// pinNetNS pins the network namespace of process pid at path, replacing a pin left
// there before.
func pinNetNS(path string, pid int) error {
	if err := unpinNetNS(path); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o400)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount(fmt.Sprintf("/proc/%d/ns/net", pid), path, "", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("pin the network namespace of process %d at %s: %w", pid, path, err)
	}
	return nil
}

// unpinNetNS drops the pin at path, if there is one.
func unpinNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpin network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// pinned tells whether path is a pinned network namespace (a bind mount of one).
func pinned(path string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Type == unix.NSFS_MAGIC
}

// podNetNS is the network namespace the plugins are given for sandbox id: its pin, else
// (a sandbox made before dockercri pinned them, or by cri-dockerd) that of its running
// pause process, else "".
func (s *Service) podNetNS(id, running string) string {
	if pin := s.netnsPin(id); pinned(pin) {
		return pin
	}
	return running
}

// dropNetNS unpins sandbox id's network namespace once its network is torn down.
func (s *Service) dropNetNS(id string) {
	if err := unpinNetNS(s.netnsPin(id)); err != nil {
		klog.ErrorS(err, "Unpin the pod's network namespace", "podSandboxID", id)
	}
}

// pinnedIDs are the sandboxes whose network namespaces have a pin.
func (s *Service) pinnedIDs() []string {
	entries, err := os.ReadDir(s.netnsDir())
	if err != nil {
		return nil
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}
