package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/dockercri/dockercri/core/checkpoint"
)

// helperEnv makes the test binary a stand-in for dockercri that runs one plugin.
const helperEnv = "DOCKERCRI_TEST_EXEC_HELPER"

func TestMain(m *testing.M) {
	if plugin := os.Getenv(helperEnv); plugin != "" {
		// Run the plugin from another goroutine, as a CRI call would, and wait.
		done := make(chan error)
		go func() {
			_, err := newPluginExec(nil).ExecPlugin(context.Background(), plugin, nil, os.Environ())
			done <- err
		}()
		fmt.Fprintln(os.Stderr, <-done)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A plugin does not outlive dockercri: killed with -9 while a plugin runs, dockercri
// takes the plugin with it, which cannot then finish its work after a restart.
func TestPluginDiesWithDockercri(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	plugin := filepath.Join(dir, "plugin")
	// It says it runs, then waits without a child (read on a pipe nobody writes).
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s.tmp && mv %s.tmp %s\nmkfifo %s/fifo\nread x < %s/fifo\n", pidFile, pidFile, pidFile, dir, dir)
	if err := os.WriteFile(plugin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(self)
	helper.Env = append(os.Environ(), helperEnv+"="+plugin)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	pid := 0
	for deadline := time.Now().Add(30 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin never ran")
		}
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still runs after its dockercri was killed", pid)
		}
	}
}

// A failed plugin's error is the CNI error it printed, else what it wrote to stderr.
func TestPluginError(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ script, want string }{
		{`echo '{"code": 7, "msg": "no address left"}'; exit 1`, "no address left"},
		{`echo broken >&2; exit 1`, `netplugin failed: "broken\n"`},
		{`exit 3`, "netplugin failed with no error message: exit status 3"},
	} {
		plugin := filepath.Join(dir, "p")
		if err := os.WriteFile(plugin, []byte("#!/bin/sh\n"+c.script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := newPluginExec(nil).ExecPlugin(context.Background(), plugin, nil, nil)
		var cniErr *types.Error
		if !errors.As(err, &cniErr) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want a CNI error with %q", c.script, err, c.want)
		}
		os.Remove(plugin)
	}
	out, err := newPluginExec(nil).ExecPlugin(context.Background(), "/bin/echo", nil, nil)
	if err != nil || string(out) != "\n" {
		t.Errorf("echo: %q, %v", out, err)
	}
}

// Each plugin's ADD result is kept as the chain goes, and a DEL that libcni gives no
// prevResult (the ADD never finished whole) gets the last, which firewall needs to find
// its rules; a DEL with a prevResult keeps its own.
func TestDelGetsThePartialResult(t *testing.T) {
	dir := t.TempDir()
	partial := &partialResults{dir: filepath.Join(dir, "state")}
	e := newPluginExec(partial)
	add := filepath.Join(dir, "add")
	if err := os.WriteFile(add, []byte(`#!/bin/sh
echo '{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24"}]}'
`), 0o755); err != nil {
		t.Fatal(err)
	}
	env := func(cmd string) []string { return []string{"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=sb1"} }
	if _, err := e.ExecPlugin(context.Background(), add, []byte(`{"cniVersion":"1.0.0"}`), env("ADD")); err != nil {
		t.Fatal(err)
	}
	del := filepath.Join(dir, "del")
	if err := os.WriteFile(del, []byte("#!/bin/sh\ncat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := e.ExecPlugin(context.Background(), del, []byte(`{"cniVersion":"1.0.0","name":"net"}`), env("DEL"))
	if err != nil || !strings.Contains(string(out), `"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24"}]}`) {
		t.Errorf("DEL without a prevResult got config %s (%v), want the ADD's result as prevResult", out, err)
	}
	own := `{"cniVersion":"1.0.0","prevResult":{"ips":[]}}`
	if out, _ := e.ExecPlugin(context.Background(), del, []byte(own), env("DEL")); string(out) != own {
		t.Errorf("DEL with its own prevResult got %s", out)
	}
	if err := partial.drop("sb1"); err != nil || partial.load("sb1") != nil {
		t.Errorf("after drop: %v, %s", err, partial.load("sb1"))
	}
}

// A result replaces the one before whole and leaves no temporary file; the temporary
// file a kill between the write and the rename would leave is one the start-up removes.
func TestPartialResultReplaced(t *testing.T) {
	dir := t.TempDir()
	partial := &partialResults{dir: dir}
	for _, r := range []string{`{"ips":[]}`, `{"ips":[{"address":"10.1.2.3/24"}]}`} {
		if err := partial.save("sb1", []byte(r)); err != nil {
			t.Fatal(err)
		}
		if got := partial.load("sb1"); string(got) != r {
			t.Errorf("load after save %s: %s", r, got)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files after two saves: %v, want the result only", entries)
	}
	f, err := os.CreateTemp(dir, ".sb1.tmp-") // as checkpoint.ReplaceFile names it
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := checkpoint.RemoveTemps(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) || partial.load("sb1") == nil {
		t.Errorf("after RemoveTemps: temporary file %v, result %s", err, partial.load("sb1"))
	}
}
