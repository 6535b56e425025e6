//go:build bench

package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Log throughput: a container printing lines as fast as it can, its log read by the
// kubelet from the CRI log file dockercri writes; the floor is the same container
// straight on Docker, its output in Docker's json-file log and nowhere else: rotated as
// dockercri has Docker rotate the json-file of its containers, and not rotated.

// logLine is what the container prints, over and over (with a newline).
var logLine = strings.Repeat("x", 100)

// chatty is the container's script: it prints logLine as fast as it can.
var chatty = "exec yes " + logLine

// logWindow is how long the log's growth is measured, after a second to get going.
const logWindow = 5 * time.Second

// logRate is what a log took in: payload MB/s and the CPU spent per MB.
type logRate struct {
	mbPerS                 float64
	criPerMB, dockerdPerMB time.Duration
}

func (b *bench) logs(t *testing.T) {
	ctx := context.Background()
	pod, err := startPod(t, b.env, b.rt, "chatty", b.image, chatty)
	defer b.removePods(t, []runningPod{pod})
	if err != nil {
		t.Fatal(err)
	}
	docker := b.env.Docker.Client
	insp, err := docker.ContainerInspect(ctx, pod.container)
	if err != nil {
		t.Fatal(err)
	}
	// The log options dockercri gave its container: Docker's rotation of its json-file
	// costs dockerd CPU of its own, which a floor without it does not pay.
	opts := insp.HostConfig.LogConfig
	ours := b.logRate(t, pod.logPath)
	// On to printFor of printing in all, then the stop, and the status that says the
	// container exited, which has all its output in the log by then.
	time.Sleep(time.Until(pod.started.Add(printFor)))
	stopped, status := b.stopAndStatus(t, pod.container)

	rotated := b.floorRate(t, "rotated", opts)
	plain := b.floorRate(t, "plain", container.LogConfig{Type: "json-file"})

	fmt.Printf("\nLog throughput: a container printing %d-byte lines as fast as it can, %s; MB/s of its output\n", len(logLine)+1, logWindow)
	fmt.Printf("that reached the log; CPU in ms per MB. Floors: the same container straight on Docker, its\n")
	fmt.Printf("json-file log only, rotated as dockercri has Docker rotate it (%s), and not rotated.\n\n", logOpts(opts))
	fmt.Printf("%-40s %8s %15s %15s\n", "", "MB/s", "dockercri CPU", "dockerd CPU")
	fmt.Printf("%-40s %8.1f %15s %15s\n", "dockercri (CRI log file)", ours.mbPerS, perMS(ours.criPerMB), perMS(ours.dockerdPerMB))
	fmt.Printf("%-40s %8.1f %15s %15s\n", "Docker floor (json-file, same rotation)", rotated.mbPerS, "-", perMS(rotated.dockerdPerMB))
	fmt.Printf("%-40s %8.1f %15s %15s\n", "Docker floor (json-file, no rotation)", plain.mbPerS, "-", perMS(plain.dockerdPerMB))
	fmt.Printf("%-40s %7.2fx %15s %14.2fx\n", "ratio to the floor, same rotation", ours.mbPerS/rotated.mbPerS, "", float64(ours.dockerdPerMB)/float64(rotated.dockerdPerMB))
	fmt.Printf("%-40s %7.2fx %15s %14.2fx\n", "ratio to the floor, no rotation", ours.mbPerS/plain.mbPerS, "", float64(ours.dockerdPerMB)/float64(plain.dockerdPerMB))
	fmt.Printf("\nAfter %s of printing: StopContainer %s; then ContainerStatus, exited with all the output in the log, %s\n",
		printFor, stopped.Round(time.Millisecond), status.Round(time.Millisecond))
}

// floorRate runs the chatty container straight on Docker with log options opts and
// measures how fast its lines reach its json-file.
func (b *bench) floorRate(t *testing.T, name string, opts container.LogConfig) logRate {
	ctx := context.Background()
	docker := b.env.Docker.Client
	created, err := docker.ContainerCreate(ctx, &container.Config{Image: b.image, Cmd: []string{"sh", "-c", chatty}},
		&container.HostConfig{NetworkMode: "none", LogConfig: opts}, nil, nil, b.env.Prefix+"-floor-chatty-"+name)
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
	return b.logRate(t, insp.LogPath)
}

// logOpts spells a container's log options, "json-file max-file=5 max-size=10m".
func logOpts(c container.LogConfig) string {
	words := []string{c.Type}
	for _, k := range slices.Sorted(maps.Keys(c.Config)) {
		words = append(words, k+"="+c.Config[k])
	}
	return strings.Join(words, " ")
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
	files := followLog(t, path)
	defer files.close()
	criPid := b.cri.Process().Pid()
	cri0, dockerd0, start := framework.CPUOf(t, criPid), framework.CPUOf(t, b.dockerdPid), time.Now()
	from := files.mark(t)
	time.Sleep(logWindow)
	to := files.mark(t)
	cri, dockerd, elapsed := framework.CPUOf(t, criPid)-cri0, framework.CPUOf(t, b.dockerdPid)-dockerd0, time.Since(start)
	files.stop()
	mb := float64(files.countLines(t, from, to)*(len(logLine)+1)) / 1e6
	if mb == 0 {
		t.Fatalf("nothing reached %s in %s", path, logWindow)
	}
	return logRate{
		mbPerS:       mb / elapsed.Seconds(),
		criPerMB:     time.Duration(float64(cri) / mb),
		dockerdPerMB: time.Duration(float64(dockerd) / mb),
	}
}

// logFiles are the files a log at path was in while it was followed, oldest first:
// Docker's rotation renames its json-file to path.1 and creates another at path (a CRI
// log is not rotated here). Each is kept open as it is found, so that what a later
// rotation deletes can still be counted.
type logFiles struct {
	path  string
	mu    sync.Mutex
	files []*os.File
	inos  map[uint64]bool
	end   chan struct{}
	done  chan struct{}
}

// followLog looks at the log at path every few milliseconds until stop: Docker rotates
// a json-file of 10 MB a few times a second at most here, so no file goes unseen.
func followLog(t *testing.T, path string) *logFiles {
	l := &logFiles{path: path, inos: map[uint64]bool{}, end: make(chan struct{}), done: make(chan struct{})}
	l.look()
	if len(l.files) == 0 {
		t.Fatalf("no log at %s", path)
	}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.end:
				return
			case <-tick.C:
				l.look()
			}
		}
	}()
	return l
}

// look keeps the files at path.1 and path that it did not know, in that order (older
// first).
func (l *logFiles) look() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range []string{l.path + ".1", l.path} {
		f, err := os.Open(p)
		if err != nil {
			continue // none, or renamed meanwhile: seen at the next look
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil || l.inos[st.Ino] {
			f.Close()
			continue
		}
		if len(l.files) == 0 && p != l.path {
			f.Close() // what was rotated away before the count began
			continue
		}
		l.inos[st.Ino] = true
		l.files = append(l.files, f)
	}
}

// logMark is where a log ends: its file (an index in files) and that file's size.
type logMark struct {
	file int
	size int64
}

// mark is where the log ends now.
func (l *logFiles) mark(t *testing.T) logMark {
	l.look()
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.files) - 1
	fi, err := l.files[i].Stat()
	if err != nil {
		t.Fatal(err)
	}
	return logMark{i, fi.Size()}
}

func (l *logFiles) stop() {
	close(l.end)
	<-l.done
}

func (l *logFiles) close() {
	for _, f := range l.files {
		f.Close()
	}
}

// countLines counts the log records written between two marks.
func (l *logFiles) countLines(t *testing.T, from, to logMark) int {
	lines := 0
	for i := from.file; i <= to.file; i++ {
		start, end := int64(0), to.size
		if i == from.file {
			start = from.size
		}
		if i < to.file {
			fi, err := l.files[i].Stat()
			if err != nil {
				t.Fatal(err)
			}
			end = fi.Size()
		}
		lines += countLines(t, l.files[i], start, end)
	}
	return lines
}

// countLines counts the lines of f between two offsets.
func countLines(t *testing.T, f *os.File, from, to int64) int {
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
