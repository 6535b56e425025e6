//go:build bench

package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Log throughput: a container printing lines as fast as it can, its log read by the
// kubelet from the CRI log file dockercri writes; the floor is the same container
// straight on Docker, its output in Docker's json-file log and nowhere else.

// logLine is what the container prints, over and over (with a newline).
var logLine = strings.Repeat("x", 100)

// logWindow is how long the log's growth is measured, after a second to get going.
const logWindow = 5 * time.Second

// logRate is what a log took in: payload MB/s and the CPU spent per MB.
type logRate struct {
	mbPerS                 float64
	criPerMB, dockerdPerMB time.Duration
}

func (b *bench) logs(t *testing.T) {
	ctx := context.Background()
	script := "exec yes " + logLine
	pod, err := startPod(t, b.env, b.rt, "chatty", b.image, script)
	defer b.removePods(t, []runningPod{pod})
	if err != nil {
		t.Fatal(err)
	}
	ours := b.logRate(t, pod.logPath)
	// On to printFor of printing in all, then the stop, and the status that says the
	// container exited, which has all its output in the log by then.
	time.Sleep(time.Until(pod.started.Add(printFor)))
	stopped, status := b.stopAndStatus(t, pod.container)

	docker := b.env.Docker.Client
	created, err := docker.ContainerCreate(ctx, &container.Config{Image: b.image, Cmd: []string{"sh", "-c", script}},
		&container.HostConfig{NetworkMode: "none", LogConfig: container.LogConfig{Type: "json-file"}}, nil, nil, b.env.Prefix+"-floor-chatty")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = docker.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}) }()
	if err := docker.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	insp, err := docker.ContainerInspect(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	floor := b.logRate(t, insp.LogPath)
	_ = docker.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})

	fmt.Printf("\nLog throughput: a container printing %d-byte lines as fast as it can, %s; MB/s of its output\n", len(logLine)+1, logWindow)
	fmt.Printf("that reached the log; CPU in ms per MB. Floor: the same container on Docker, json-file log only.\n\n")
	fmt.Printf("%-34s %8s %15s %15s\n", "", "MB/s", "dockercri CPU", "dockerd CPU")
	fmt.Printf("%-34s %8.1f %15s %15s\n", "dockercri (CRI log file)", ours.mbPerS, perMS(ours.criPerMB), perMS(ours.dockerdPerMB))
	fmt.Printf("%-34s %8.1f %15s %15s\n", "Docker floor (json-file)", floor.mbPerS, "-", perMS(floor.dockerdPerMB))
	fmt.Printf("%-34s %7.2fx %15s %14.2fx\n", "ratio", ours.mbPerS/floor.mbPerS, "", float64(ours.dockerdPerMB)/float64(floor.dockerdPerMB))
	fmt.Printf("\nAfter %s of printing: StopContainer %s; then ContainerStatus, exited with all the output in the log, %s\n",
		printFor, stopped.Round(time.Millisecond), status.Round(time.Millisecond))
}

// printFor is how long the chatty container prints before it is stopped.
const printFor = 20 * time.Second

// stopAndStatus stops a container without grace, then asks for its status (as the
// kubelet does next) until it says exited: how long each took.
func (b *bench) stopAndStatus(t *testing.T, id string) (stop, status time.Duration) {
	ctx := context.Background()
	start := time.Now()
	if _, err := b.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	stop = time.Since(start)
	start = time.Now()
	for {
		st, err := b.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetStatus().GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			return stop, time.Since(start)
		}
	}
}

// logRate measures how fast the lines of a running chatty container reach the log at
// path, and the CPU dockercri and dockerd spend meanwhile.
func (b *bench) logRate(t *testing.T, path string) logRate {
	time.Sleep(time.Second)
	criPid := b.cri.Process().Pid()
	size0, cri0, dockerd0, start := fileSize(t, path), framework.CPUOf(t, criPid), framework.CPUOf(t, b.dockerdPid), time.Now()
	time.Sleep(logWindow)
	size1, cri, dockerd, elapsed := fileSize(t, path), framework.CPUOf(t, criPid)-cri0, framework.CPUOf(t, b.dockerdPid)-dockerd0, time.Since(start)
	mb := float64(countLines(t, path, size0, size1)*(len(logLine)+1)) / 1e6
	if mb == 0 {
		t.Fatalf("nothing reached %s in %s", path, logWindow)
	}
	return logRate{
		mbPerS:       mb / elapsed.Seconds(),
		criPerMB:     time.Duration(float64(cri) / mb),
		dockerdPerMB: time.Duration(float64(dockerd) / mb),
	}
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// countLines counts the log records of path between two offsets.
func countLines(t *testing.T, path string, from, to int64) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := io.NewSectionReader(f, from, to-from)
	buf := make([]byte, 1<<20)
	lines := 0
	for {
		n, err := r.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if err == io.EOF {
			return lines
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
