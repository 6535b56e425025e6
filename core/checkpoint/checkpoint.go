// Package checkpoint keeps what dockercri must know of a sandbox and Docker cannot tell
// it: port mappings and, once the network is up, the pod's IPs. One small JSON file per
// sandbox under <root>/sandbox/<id>, written atomically, in the layout of dockershim's
// and cri-dockerd's sandbox checkpoints (their fields are read; dockercri adds its own),
// so that a node moved from cri-dockerd keeps its pods' port mappings, also with
// dockercri's root directory set to cri-dockerd's.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/atomicwriter"
)

const schemaVersion = "v1"

// PortMapping is one port of a sandbox, as dockershim checkpointed it.
type PortMapping struct {
	Protocol      string `json:"protocol,omitempty"`
	ContainerPort int32  `json:"container_port,omitempty"`
	HostPort      int32  `json:"host_port,omitempty"`
	HostIP        string `json:"host_ip,omitempty"`
}

// Data is dockershim's checkpoint data.
type Data struct {
	PortMappings []PortMapping `json:"port_mappings,omitempty"`
	HostNetwork  bool          `json:"host_network,omitempty"`
}

// Sandbox is a sandbox's checkpoint.
type Sandbox struct {
	Version   string `json:"version"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Data      *Data  `json:"data,omitempty"`
	// CheckSum is dockershim's; dockercri neither writes nor checks it (it relies on
	// atomic writes instead).
	CheckSum uint64 `json:"checksum"`

	// Below, dockercri's own fields.

	// Own is set on the checkpoints of the sandboxes dockercri ran, whose network
	// fields below say all (no Network: no CNI network). A checkpoint without it is
	// the old server's (cri-dockerd's or dockershim's, read from their root directory)
	// or from a dockercri before the field: what that pod is attached to and its IPs
	// are found in the CNI cache.
	Own bool `json:"dockercri_own,omitempty"`
	// LogDirectory is the sandbox's log directory.
	LogDirectory string `json:"dockercri_log_directory,omitempty"`
	// IPs are the pod's IPs, primary first, as the network plugin gave them.
	IPs []string `json:"dockercri_ips,omitempty"`
	// Network is the CNI network the pod was attached to; empty when it has no CNI
	// network (host network, or no network plugin).
	Network string `json:"dockercri_network,omitempty"`
	// NetworkTornDown is set once the pod's network was removed (CNI DEL done).
	NetworkTornDown bool `json:"dockercri_network_torn_down,omitempty"`
}

// Store reads and writes checkpoints under a directory.
type Store struct {
	dir string
}

// NewStore returns the store of checkpoints under root/sandbox.
func NewStore(root string) *Store {
	return &Store{dir: filepath.Join(root, "sandbox")}
}

func (s *Store) path(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
		return "", fmt.Errorf("invalid sandbox id %q", id)
	}
	return filepath.Join(s.dir, id), nil
}

// Save writes cp for sandbox id atomically: a reader sees the old or the new file whole.
func (s *Store) Save(id string, cp *Sandbox) error {
	path, err := s.path(id)
	if err != nil {
		return err
	}
	cp.Version = schemaVersion
	data, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return writeFile(path, data, 0o600)
}

// Load returns the checkpoint of sandbox id, or nil when there is none.
func (s *Store) Load(id string) (*Sandbox, error) {
	path, err := s.path(id)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var cp Sandbox
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return &cp, nil
}

// Delete removes the checkpoint of sandbox id; a missing one is no error.
func (s *Store) Delete(id string) error {
	path, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// tempInfix is in the name of every temporary file of an atomic write: atomicwriter's
// are .tmp-<name>N, those of dockercri before it .<name>.tmp-N.
const tempInfix = ".tmp-"

// RemoveTemps removes the temporary files that a crash in the middle of a Save left
// (a rename that never came): nothing else would ever remove them. It is for start-up,
// before any Save runs.
func (s *Store) RemoveTemps() error { return RemoveTemps(s.dir) }

// RemoveTemps removes from dir the temporary files of atomic writes a crash
// cut short. Nothing may write in dir meanwhile.
func RemoveTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// IDs are the sandboxes that have a checkpoint.
func (s *Store) IDs() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, ".") && e.Type().IsRegular() {
			ids = append(ids, name)
		}
	}
	return ids, nil
}

// ReplaceFile writes data to path through a temporary file renamed over it (named as
// RemoveTemps expects), so that a kill of dockercri leaves the old file or the new,
// never a part. Unlike a checkpoint's writes it does not sync: it is for files that
// matter only while the host runs (a kill -9 of dockercri loses nothing of the page
// cache, and a reboot takes what they describe with it), written often enough that
// the syncs would cost more than anything else around them: a CNI plugin's ADD result
// (one per plugin of a pod's chain), a container log's copy position.
func ReplaceFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// writeFile writes data to path atomically (atomicwriter: a temporary file in the same
// directory, synced before it is renamed over path, so that a crash leaves the old or
// the new file), then syncs the directory, which makes the rename itself durable.
func writeFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := atomicwriter.WriteFile(path, data, mode); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
