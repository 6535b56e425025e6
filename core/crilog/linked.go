package crilog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"
)

// A container's log path may be a symlink to Docker's json-file of the container:
// dockershim and cri-dockerd made it so (and dockercri does with
// --container-log-format=docker-json). That container's log is Docker's file, which
// Docker writes and rotates and the kubelet reads as Docker's JSON: nothing is copied
// for it, so that a node moved from cri-dockerd keeps its containers' logs as they
// were while its new containers get CRI logs. A symlink to anything else is not
// followed either: dockercri writes as root, and only to log files it made.
var (
	// ErrDockerLog: the container's log is Docker's json-file, linked at its log path.
	// Nothing copies it, and Reopen refuses, as dockershim did: Docker rotates the file.
	ErrDockerLog = errors.New("crilog: the container's log path is a symlink to Docker's json-file of it, which Docker writes and rotates")
	// ErrSymlink: the container's log path is a symlink, not to Docker's file of it.
	ErrSymlink = errors.New("crilog: the container's log path is a symlink; dockercri writes only log files it creates")
)

// linked tells why nothing is copied for c, when its log path is a symlink: ErrDockerLog
// or ErrSymlink (logged, once per container). It is decided as the copying would begin,
// at the container's first Start or WaitCopied, and kept until Stop: the kubelet renames
// the link away for a moment to rotate it, and that moment must not make it a CRI log.
// A log being copied is dockercri's (the copying does not open a symlink either).
func (m *Manager) linked(c Container) error {
	m.mu.Lock()
	err, known := m.links[c.ID]
	copying := m.tailers[c.ID] != nil || m.copiers[c.ID] != nil
	m.mu.Unlock()
	if known || copying {
		return err
	}
	if err = linkedLog(c); err == nil {
		return nil
	}
	m.mu.Lock()
	if prev, ok := m.links[c.ID]; ok {
		m.mu.Unlock()
		return prev
	}
	m.links[c.ID] = err
	m.mu.Unlock()
	if errors.Is(err, ErrDockerLog) {
		klog.V(2).InfoS("The container's log is Docker's json-file its log path links to, as dockershim and cri-dockerd made it: nothing is copied", "containerID", c.ID, "path", c.Path, "dockerLog", c.DockerLog)
	} else {
		klog.ErrorS(err, "Not copying the container's output to its log", "containerID", c.ID, "path", c.Path)
	}
	return err
}

// linkedLog looks at c's log path: nil unless it is a symlink. A missing file is
// created, and a failure to look is the open's to report.
func linkedLog(c Container) error {
	st, err := os.Lstat(c.Path)
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	target, err := os.Readlink(c.Path)
	if err != nil {
		return fmt.Errorf("%s: %w: %v", c.Path, ErrSymlink, err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(c.Path), target)
	}
	if c.DockerLog != "" && sameLog(target, c.DockerLog) {
		return fmt.Errorf("%s: %w", c.Path, ErrDockerLog)
	}
	return fmt.Errorf("%s links to %s, which is not Docker's log file of the container: %w", c.Path, target, ErrSymlink)
}

// sameLog tells whether target names Docker's log file dockerLog: the same path, or the
// same name in the same directory reached another way (Docker's data root through a
// symlink). The file itself is not compared: Docker renames it away as it rotates.
func sameLog(target, dockerLog string) bool {
	target, dockerLog = filepath.Clean(target), filepath.Clean(dockerLog)
	if target == dockerLog {
		return true
	}
	if filepath.Base(target) != filepath.Base(dockerLog) {
		return false
	}
	a, err := os.Stat(filepath.Dir(target))
	if err != nil {
		return false
	}
	b, err := os.Stat(filepath.Dir(dockerLog))
	return err == nil && os.SameFile(a, b)
}
