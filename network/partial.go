package network

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/dockercri/dockercri/core/checkpoint"
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
	// No sync: see ReplaceFile; a result lost to a reboot reads as none (withPrevResult
	// checks it).
	return checkpoint.ReplaceFile(path, result)
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
