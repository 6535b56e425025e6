package network

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// pluginExec runs the CNI plugins as libcni's own runner does, except that each plugin
// dies with dockercri: the kernel kills it (SIGKILL) when dockercri does. A plugin left
// running on its own by a kill -9 of dockercri finished its ADD after dockercri had
// restarted and run the pod's DEL, and what it added stayed (firewall's iptables rules).
// libcni's runner has no way to set that, hence this one.
//
// It also keeps each plugin's ADD result as the chain goes (partialResults), and gives
// the last to a DEL that has no prevResult from libcni.
type pluginExec struct {
	*invoke.RawExec // FindInPath
	version.PluginDecoder
	partial *partialResults
}

func newPluginExec(partial *partialResults) *pluginExec {
	return &pluginExec{RawExec: &invoke.RawExec{}, partial: partial}
}

// textBusyRetries is how many times a plugin whose binary is being written (a node
// installing CNI plugins) is tried again, a second apart, as libcni's runner does.
const textBusyRetries = 5

// ExecPlugin runs the plugin with stdin and environ and returns what it printed.
func (e *pluginExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	cmd, id := envValue(environ, "CNI_COMMAND"), envValue(environ, "CNI_CONTAINERID")
	if cmd == "DEL" {
		stdin = withPrevResult(stdin, e.partial.load(id))
	}
	out, err := e.run(ctx, pluginPath, stdin, environ)
	if err == nil && cmd == "ADD" {
		if serr := e.partial.save(id, out); serr != nil {
			// Without it a DEL after a failure could not undo all: fail the ADD now.
			return nil, fmt.Errorf("keep the plugin's result: %w", serr)
		}
	}
	return out, err
}

func (e *pluginExec) run(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	for try := 0; ; try++ {
		out, stderr, err := runBound(ctx, pluginPath, stdin, environ)
		if errors.Is(err, syscall.ETXTBSY) && try < textBusyRetries {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		if err != nil {
			return nil, pluginError(err, out, stderr)
		}
		return out, nil
	}
}

// runBound runs one plugin with a parent-death signal. The kernel sends that signal
// when the thread that forked the child ends, not the process, and Go ends a thread
// when a goroutine locked to it returns: the goroutine stays locked to its thread
// from the fork to the plugin's end, so that the thread outlives the plugin unless
// dockercri itself dies.
func runBound(ctx context.Context, path string, stdin []byte, environ []string) (stdout, stderr []byte, err error) {
	var out, errOut bytes.Buffer
	c := exec.CommandContext(ctx, path)
	c.Env = environ
	c.Stdin = bytes.NewReader(stdin)
	c.Stdout, c.Stderr = &out, &errOut
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = c.Run()
	runtime.UnlockOSThread()
	return out.Bytes(), errOut.Bytes(), err
}

// pluginError is a failed plugin's error as libcni's runner makes it: the CNI error
// the plugin printed, else its stderr.
func pluginError(err error, stdout, stderr []byte) error {
	e := &types.Error{}
	switch {
	case len(stdout) > 0:
		if perr := json.Unmarshal(stdout, e); perr != nil {
			e.Msg = fmt.Sprintf("netplugin failed but error parsing its diagnostic message %q: %v", stdout, perr)
		}
	case len(stderr) > 0:
		e.Msg = fmt.Sprintf("netplugin failed: %q: %v", stderr, err)
	default:
		e.Msg = fmt.Sprintf("netplugin failed with no error message: %v", err)
	}
	return e
}
