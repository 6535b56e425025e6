package network

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// partialResults keeps, for each pod whose ADD has not been undone yet, the result the
// last plugin of its chain that succeeded gave, on disk, so that it outlives dockercri.
//
// libcni keeps a pod's result (which its DEL gives each plugin as prevResult) only once
// the whole chain's ADD succeeded. The DEL of an ADD that failed half-way, or that a
// kill -9 of dockercri cut short, came with no prevResult, and the plugins that need
// one to know what to remove could not: firewall left its iptables rules for the pod's
// addresses. With the results kept as each plugin gives them, that DEL gets the last.
type partialResults struct {
	dir string
}

func (p *partialResults) path(id string) (string, bool) {
	if p == nil || p.dir == "" || id == "" || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return "", false
	}
	return filepath.Join(p.dir, id), true
}

// save keeps result, the output of one plugin's ADD for the pod id.
func (p *partialResults) save(id string, result []byte) error {
	path, ok := p.path(id)
	if !ok || len(result) == 0 {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return replaceFile(dir, filepath.Base(path), result)
}

// tempPattern names the temporary files of writes of name: as the start-up's removal
// of temporary files expects (checkpoint.RemoveTemps).
func tempPattern(name string) string { return "." + name + ".tmp-" }

// replaceFile writes data to dir/name through a temporary file renamed over it, so that
// a kill of dockercri leaves the old result or the new, never a part. It does not sync:
// a result matters only while the host runs (a DEL after a kill -9 of dockercri, which
// loses nothing of the page cache), since a reboot takes the pod's namespace, addresses
// and rules with it, and a result lost that way reads as none (withPrevResult checks
// it). The syncs cost more CPU and start-up time than anything else dockercri did for
// the ADD of a pod: one per plugin of the chain, for a file the ADD's end removes.
func replaceFile(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, tempPattern(name))
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// load is the last result kept for id, nil when there is none.
func (p *partialResults) load(id string) []byte {
	path, ok := p.path(id)
	if !ok {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return b
}

// drop forgets id's result: its ADD succeeded whole (libcni keeps the result), or its DEL did.
func (p *partialResults) drop(id string) error {
	path, ok := p.path(id)
	if !ok {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// withPrevResult is a plugin's DEL config with prevResult set to prev, unless it has one.
func withPrevResult(conf, prev []byte) []byte {
	var m map[string]json.RawMessage
	if len(prev) == 0 || json.Unmarshal(conf, &m) != nil || len(m["prevResult"]) > 0 || !json.Valid(prev) {
		return conf
	}
	m["prevResult"] = prev
	out, err := json.Marshal(m)
	if err != nil {
		return conf
	}
	return out
}

// envValue is the value of name in environ.
func envValue(environ []string, name string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
