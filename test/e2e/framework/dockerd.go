package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"
)

// HostDockerEndpoint is where the node's own Docker Engine listens.
const HostDockerEndpoint = "unix:///var/run/docker.sock"

// Dockerd is a Docker Engine the tests use: the node's own, or one they started.
type Dockerd struct {
	Endpoint string
	Client   *client.Client
	// proc is set when the tests started this dockerd and so must stop it.
	proc *Process
	args []string
	env  []string
	dir  string
}

// Ping asks dockerd whether it answers.
func (d *Dockerd) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := d.Client.Ping(ctx)
	return err
}

// EnsureHostDockerd returns the node's Docker Engine, starting dockerd when none runs.
// A running dockerd is used as it is and left running.
func EnsureHostDockerd(logDir string) (*Dockerd, error) {
	cli, err := client.NewClientWithOpts(client.WithHost(HostDockerEndpoint), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	d := &Dockerd{Endpoint: HostDockerEndpoint, Client: cli}
	if d.Ping(context.Background()) == nil {
		return d, nil
	}
	d.args = []string{"dockerd"}
	d.dir = logDir
	if err := d.Start(); err != nil {
		return nil, err
	}
	return d, nil
}

// The engine the tests run against: the node's, Debian's docker.io, unless
// DOCKERCRI_ENGINE_BIN names the programs of another (hack/build-engine.sh prints it),
// with the image store DOCKERCRI_IMAGE_STORE names ("classic", "containerd"; empty:
// the engine's default). Every dockerd the tests start runs that engine; with another
// engine than the node's, the suite's shared Docker is one of them too.
var (
	engineBin  = os.Getenv("DOCKERCRI_ENGINE_BIN")
	imageStore = os.Getenv("DOCKERCRI_IMAGE_STORE")
)

// SuiteDockerd returns the Docker Engine a suite runs on: a dockerd of the tests' own in
// dir running the engine DOCKERCRI_ENGINE_BIN names, or else the node's
// (EnsureHostDockerd). Stop stops it when the tests started it.
func SuiteDockerd(dir string) (*Dockerd, error) {
	if engineBin != "" {
		return StartPrivateDockerd(dir)
	}
	return EnsureHostDockerd(dir)
}

// StartPrivateDockerd starts a dockerd of the tests' own in dir, apart from the node's:
// its own socket, data and exec roots and daemon config, no bridge and no iptables
// rules, so that tests can stop and start it, or give it registry mirrors, without
// touching the node's Docker.
func StartPrivateDockerd(dir string, extraArgs ...string) (*Dockerd, error) {
	return StartPrivateDockerdWith(dir, nil, extraArgs...)
}

// StartPrivateDockerdWith is StartPrivateDockerd with extra environment variables
// (HTTPS_PROXY, for one).
func StartPrivateDockerdWith(dir string, env []string, extraArgs ...string) (*Dockerd, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := "{}\n"
	if imageStore != "" {
		conf = fmt.Sprintf("{\"features\": {\"containerd-snapshotter\": %t}}\n", imageStore == "containerd")
	}
	confPath := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "docker.sock")
	d := &Dockerd{Endpoint: "unix://" + sock, dir: dir, env: env}
	dockerd := "dockerd"
	if engineBin != "" {
		// dockerd finds containerd, its shim, runc and docker-proxy in its PATH.
		dockerd = filepath.Join(engineBin, "dockerd")
		d.env = append([]string{"PATH=" + engineBin + ":" + os.Getenv("PATH")}, env...)
	}
	d.args = append([]string{dockerd,
		"--config-file", confPath,
		"--host", d.Endpoint,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--bridge", "none", "--iptables=false", "--ip-masq=false",
	}, extraArgs...)
	cli, err := client.NewClientWithOpts(client.WithHost(d.Endpoint), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	d.Client = cli
	return d, d.Start()
}

// Started reports whether the tests started this dockerd.
func (d *Dockerd) Started() bool { return d.args != nil }

// Start starts the dockerd and waits until it answers.
func (d *Dockerd) Start() error {
	if !d.Started() {
		return fmt.Errorf("the node's dockerd at %s is not the tests' to start", d.Endpoint)
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	proc, err := StartProcessWith("dockerd", filepath.Join(d.dir, "dockerd.log"), d.env, nil, d.args...)
	if err != nil {
		return err
	}
	d.proc = proc
	err = WaitFor(60*time.Second, func() error {
		if proc.Exited() {
			return fmt.Errorf("dockerd exited: %v\n%s", proc.Wait(0), Tail(proc.Log(), 20))
		}
		return d.Ping(context.Background())
	})
	if err != nil {
		_ = proc.Stop(10 * time.Second)
		return fmt.Errorf("dockerd %v did not come up: %w", d.args, err)
	}
	return nil
}

// Stop stops a dockerd the tests started, as a node's service manager would.
func (d *Dockerd) Stop() error {
	if d.proc == nil {
		return nil
	}
	if d.proc.Exited() {
		// Nothing the tests did stops it: say how it ended.
		err := fmt.Errorf("dockerd %s had exited: %v\n%s", d.Endpoint, d.proc.Wait(0), Tail(d.proc.Log(), 30))
		d.proc = nil
		return err
	}
	err := d.proc.Stop(60 * time.Second)
	d.proc = nil
	// Docker 29 leaves its default network namespace mounted in its exec root; a
	// dockerd of the tests' own leaves nothing mounted under its directory.
	if d.dir != "" {
		if uerr := unmountUnder(d.dir); err == nil {
			err = uerr
		}
	}
	return err
}

// Tail is the last n lines of s, for a daemon's log in a failure.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Pid is the process id of a dockerd the tests started.
func (d *Dockerd) Pid() int { return d.proc.Pid() }

// ContainerdPid is the process id of the containerd a dockerd the tests started runs
// as its child, 0 if there is none.
func (d *Dockerd) ContainerdPid() int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if s[open+1:end] == "containerd" && len(fields) > 1 && fields[1] == strconv.Itoa(d.Pid()) {
			pid, _ := strconv.Atoi(strings.Fields(s)[0])
			return pid
		}
	}
	return 0
}
