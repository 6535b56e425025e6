//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// pod is a sandbox a test runs through dockercri, removed at the end of the test.
type pod struct {
	rt  internalapi.RuntimeService
	id  string
	cfg *runtimeapi.PodSandboxConfig
}

func runPod(t *testing.T, rt internalapi.RuntimeService, cfg *runtimeapi.PodSandboxConfig) *pod {
	t.Helper()
	id, err := rt.RunPodSandbox(ctx(t), cfg, "")
	if err != nil {
		t.Fatalf("RunPodSandbox %s: %v", cfg.GetMetadata().GetName(), err)
	}
	t.Cleanup(func() {
		if err := rt.StopPodSandbox(ctx(t), id); err != nil {
			t.Errorf("cleanup: stop sandbox: %v", err)
		}
		if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
			t.Errorf("cleanup: remove sandbox: %v", err)
		}
	})
	return &pod{rt: rt, id: id, cfg: cfg}
}

// start creates and starts a container in the pod. Its CRI log exists once
// StartContainer returns (a reader may open it at once, as critest does).
func (p *pod) start(t *testing.T, c *runtimeapi.ContainerConfig) string {
	t.Helper()
	id := p.create(t, c)
	if err := p.rt.StartContainer(ctx(t), id); err != nil {
		t.Fatalf("StartContainer %s: %v", c.GetMetadata().GetName(), err)
	}
	if c.GetLogPath() != "" && p.cfg.GetLogDirectory() != "" {
		if _, err := os.Lstat(p.logPath(c)); err != nil {
			t.Errorf("the log of %s once StartContainer returned: %v", c.GetMetadata().GetName(), err)
		}
	}
	return id
}

func (p *pod) create(t *testing.T, c *runtimeapi.ContainerConfig) string {
	t.Helper()
	id, err := p.rt.CreateContainer(ctx(t), p.id, c, p.cfg)
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", c.GetMetadata().GetName(), err)
	}
	return id
}

// logPath is where the container's CRI log is.
func (p *pod) logPath(c *runtimeapi.ContainerConfig) string {
	return p.cfg.GetLogDirectory() + "/" + c.GetLogPath()
}

// pullBusybox pulls the run's busybox through images and returns its image ref.
func pullBusybox(t *testing.T, images internalapi.ImageManagerService) string {
	t.Helper()
	ref, err := images.PullImage(ctx(t), spec(env.Busybox), nil, nil)
	if err != nil {
		t.Fatalf("pull busybox: %v", err)
	}
	return ref
}

// waitExited waits for the container to exit and returns its status.
func waitExited(t *testing.T, rt internalapi.RuntimeService, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	var st *runtimeapi.ContainerStatus
	err := framework.WaitFor(time.Minute, func() error {
		resp, err := rt.ContainerStatus(ctx(t), id, false)
		if err != nil {
			return err
		}
		st = resp.GetStatus()
		if st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED {
			return fmt.Errorf("state %s", st.GetState())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("container %s did not exit: %v", id, err)
	}
	return st
}

// criLogLine is one record of a CRI log file.
type criLogLine struct {
	time, stream, tag, content string
}

// readCRILog parses a CRI log file; a malformed line fails the test.
func readCRILog(t *testing.T, path string) []criLogLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	return parseCRILog(t, string(b))
}

func parseCRILog(t *testing.T, s string) []criLogLine {
	t.Helper()
	var out []criLogLine
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, " ", 4)
		if len(parts) < 3 {
			t.Fatalf("malformed CRI log line %q", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, parts[0]); err != nil {
			t.Fatalf("CRI log line %q: time: %v", line, err)
		}
		if parts[1] != "stdout" && parts[1] != "stderr" || parts[2] != "F" && parts[2] != "P" {
			t.Fatalf("CRI log line %q: bad stream or tag", line)
		}
		l := criLogLine{time: parts[0], stream: parts[1], tag: parts[2]}
		if len(parts) == 4 {
			l.content = parts[3]
		}
		out = append(out, l)
	}
	return out
}

// fullLines joins partial records and returns the lines of one stream.
func fullLines(lines []criLogLine, stream string) []string {
	var out []string
	cur := ""
	for _, l := range lines {
		if l.stream != stream {
			continue
		}
		cur += l.content
		if l.tag == "F" {
			out = append(out, cur)
			cur = ""
		}
	}
	return out
}

// execSync runs cmd in the container through the raw CRI call, which keeps the exit code
// and both streams (the kubelet's client turns a non-zero exit into an error).
func execSync(t *testing.T, d *framework.Dockercri, id string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error) {
	t.Helper()
	rt, _ := d.Raw(t)
	return rt.ExecSync(ctx(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: int64(timeout / time.Second)})
}

// waitListening waits until a process in the container's network namespace listens on
// TCP port, so that a test talks to a container's server only once it serves.
func waitListening(t *testing.T, d *framework.Dockercri, cid string, ports ...int) {
	t.Helper()
	err := framework.WaitFor(60*time.Second, func() error {
		r, err := execSync(t, d, cid, []string{"cat", "/proc/net/tcp", "/proc/net/tcp6"}, 10*time.Second)
		if err != nil {
			return err
		}
		for _, port := range ports {
			if !listensOn(string(r.Stdout), port) {
				return fmt.Errorf("nothing listens on port %d yet", port)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("container %s: %v", cid[:12], err)
	}
}

// listensOn tells whether a /proc/net/tcp table has a socket listening on port: a
// local address ending in the port in hex, in state 0A (LISTEN).
func listensOn(table string, port int) bool {
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 3 && strings.HasSuffix(f[1], suffix) && f[3] == "0A" {
			return true
		}
	}
	return false
}
