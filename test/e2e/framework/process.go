// Package framework runs the real parts dockercri's end-to-end tests need: Docker
// Engine, local registries, test images and the dockercri binary itself.
package framework

import (
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
)

// Process is a daemon the tests started, with its output in a log file.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// StartProcess starts argv in its own process group, its output going to logPath.
// The process is told to stop if the test binary dies, so no daemon outlives a crashed run.
func StartProcess(name, logPath string, argv ...string) (*Process, error) {
	return StartProcessWith(name, logPath, nil, nil, argv...)
}

// StartProcessWith is StartProcess with extra environment variables and files passed
// from fd 3 on (as systemd passes sockets).
func StartProcessWith(name, logPath string, env []string, files []*os.File, argv ...string) (*Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to end and returns its exit error (nil for 0).
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) still running after %s", p.Name, p.Pid(), timeout)
	}
}

// Stop sends SIGTERM and waits for the end, then kills the whole group if it must.
// It returns the exit error of the SIGTERM'd process (nil when it exited 0).
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.Signal(syscall.SIGTERM)
	err := p.Wait(timeout)
	if !p.Exited() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
	return err
}

// Kill kills the process at once, as a crash or kill -9 would.
func (p *Process) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Log is what the process wrote so far, for failure messages.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// WaitFor polls cond every 50ms until it returns nil or timeout passes.
func WaitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RepoRoot is the dockercri checkout the tests run in.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// clockTick is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU times.
const clockTick = 100

// ProcessCPU is the CPU time (user + system) process pid has spent so far, from
// /proc/<pid>/stat: counted in clock ticks, each charged whole to the task it
// interrupts, so short bursts are sampled rather than timed (see ProcessRunTime).
func ProcessCPU(pid int) (time.Duration, error) {
	return statTicks(pid, 11, 12) // utime, stime
}

// statTicks is the sum of fields i and j (clock ticks) of /proc/<pid>/stat, counted from
// after the command name, which may hold spaces.
func statTicks(pid, i, j int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	a, _ := strconv.ParseInt(f[i], 10, 64)
	c, _ := strconv.ParseInt(f[j], 10, 64)
	return time.Duration(a+c) * time.Second / clockTick, nil
}

// ChildrenCPU is the CPU time (user + system) of the children process pid has waited
// for, theirs included (cutime and cstime of /proc/<pid>/stat): what the programs it ran,
// CNI plugins for dockercri, spent.
func ChildrenCPU(pid int) (time.Duration, error) {
	return statTicks(pid, 13, 14) // cutime, cstime
}

// MachineCPU is the CPU time every CPU of the machine has spent busy so far (not idle
// and not waiting for IO), from /proc/stat.
func MachineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTick, nil
}

// ProcessRunTime is the time the threads of process pid have run on a CPU so far, to
// the nanosecond (the first field of each /proc/<pid>/task/<tid>/schedstat): the
// measure for a process that wakes often for a fraction of a tick. Threads that have
// exited are not counted (Go programs seldom end threads).
func ProcessRunTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread ended
			}
			return 0, err
		}
		ns, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", task.Name(), err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// CPUOf is ProcessCPU for a test: a process that cannot be read fails it.
func CPUOf(t testing.TB, pid int) time.Duration {
	t.Helper()
	d, err := ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// RunTimeOf is ProcessRunTime for a test: a process that cannot be read fails it.
func RunTimeOf(t testing.TB, pid int) time.Duration {
	t.Helper()
	d, err := ProcessRunTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// RSSMB is a process's resident set size in MB.
func RSSMB(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb / 1024
		}
	}
	return 0
}
