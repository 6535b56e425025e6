//go:build e2e

package crilog

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// These tests run the logs-API copier against a real Docker Engine's framing (TTY, 16
// KiB pieces, resuming after a crash), so they are behind the e2e build tag, out of the
// unit tests, which need no Docker; make e2e runs them. They run on the Docker the e2e
// suite runs on (framework.SuiteDockerd): a dockerd of their own of the engine
// DOCKERCRI_ENGINE_BIN names (make e2e DOCKER=29), else the node's at
// /var/run/docker.sock. They import a tiny busybox image and remove all they create.

// suiteDocker returns a client of the e2e suite's Docker, stopped at the test's end if
// the test started it.
func suiteDocker(t *testing.T) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: uses Docker")
	}
	d, err := framework.SuiteDockerd(t.TempDir())
	if err != nil {
		t.Fatalf("Docker: %v", err)
	}
	t.Logf("Docker Engine at %s", d.Endpoint)
	t.Cleanup(func() {
		d.Client.Close()
		if d.Started() {
			if err := d.Stop(); err != nil {
				t.Error(err)
			}
		}
	})
	return d.Client
}

// busyboxImage imports the e2e suite's busybox root filesystem as an image of the
// test's own, and returns its reference.
func busyboxImage(t *testing.T, cli *client.Client) string {
	t.Helper()
	rootfs, err := framework.RootFS(nil)
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	ref := "dockercri-crilog-test:" + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove image %s: %v", ref, err)
		}
	})
	if _, err := framework.ImportImage(ctx, cli, rootfs, ref); err != nil {
		t.Fatalf("import the busybox image: %v", err)
	}
	return ref
}

// createContainer creates a container running script with busybox's sh, its output
// kept by Docker's json-file driver, and removes it when the test ends.
func createContainer(t *testing.T, cli *client.Client, ref, script string, tty bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{Image: ref, Cmd: []string{"/bin/sh", "-c", script}, Tty: tty},
		&container.HostConfig{NetworkMode: "none", LogConfig: container.LogConfig{Type: "json-file"}},
		nil, nil, "")
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove container %s: %v", resp.ID, err)
		}
	})
	return resp.ID
}

func startContainer(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("start container: %v", err)
	}
}

func waitExit(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	statusCh, errCh := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case st := <-statusCh:
		if st.StatusCode != 0 {
			t.Fatalf("container exited with %d", st.StatusCode)
		}
	case err := <-errCh:
		t.Fatalf("wait for the container: %v", err)
	}
}

// printScript prints n numbered lines to stdout, every 100th also to stderr, a
// 40000-byte line after line n/2, and ends with output without a newline. With
// pause, it sleeps a little every 20 lines.
func printScript(n int, pause bool) string {
	sleep := ""
	if pause {
		sleep = `if [ $((i % 20)) -eq 0 ]; then sleep 0.05; fi`
	}
	return fmt.Sprintf(`i=1
while [ $i -le %d ]; do
  echo "out $i"
  if [ $((i %% 100)) -eq 0 ]; then echo "err $i" >&2; fi
  if [ $i -eq %d ]; then printf 'BEGIN%%039992dEND\n' 0; fi
  %s
  i=$((i+1))
done
printf 'no newline at exit'`, n, n/2, sleep)
}

// longLine is the 40000-byte line of printScript.
var longLine = "BEGIN" + strings.Repeat("0", 39992) + "END"

// expectedOutput is what printScript prints, per stream, line by line; the last
// stdout line has no newline.
func expectedOutput(n int) (stdout, stderr []string) {
	for i := 1; i <= n; i++ {
		stdout = append(stdout, fmt.Sprintf("out %d", i))
		if i%100 == 0 {
			stderr = append(stderr, fmt.Sprintf("err %d", i))
		}
		if i == n/2 {
			stdout = append(stdout, longLine)
		}
	}
	return append(stdout, "no newline at exit"), stderr
}

type criEntry struct {
	ts      time.Time
	stream  string
	tag     string
	content string
}

func parseCRILines(t *testing.T, lines []string) []criEntry {
	t.Helper()
	var es []criEntry
	for i, l := range lines {
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 {
			t.Fatalf("line %d malformed: %q", i, clip([]byte(l)))
		}
		ts, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil || (f[1] != "stdout" && f[1] != "stderr") || (f[2] != "P" && f[2] != "F") {
			t.Fatalf("line %d malformed: %q", i, clip([]byte(l)))
		}
		es = append(es, criEntry{ts, f[1], f[2], f[3]})
	}
	return es
}

// checkOutput checks that the log lines hold each line printed exactly once, in
// order per stream, long lines as partial pieces then a full end, and that they are
// exactly Docker's records.
func checkOutput(t *testing.T, cli *client.Client, id string, tty bool, lines []string, wantOut, wantErr []string) {
	t.Helper()
	es := parseCRILines(t, lines)
	joined := map[string][]string{}
	pieces := map[string][]int{}
	var cur = map[string]string{}
	var last = map[string]time.Time{}
	for _, e := range es {
		if e.ts.Before(last[e.stream]) {
			t.Errorf("%s goes back in time at %v", e.stream, e.ts)
		}
		last[e.stream] = e.ts
		cur[e.stream] += e.content
		if e.tag == "P" {
			pieces[e.stream] = append(pieces[e.stream], len(e.content))
			continue
		}
		joined[e.stream] = append(joined[e.stream], cur[e.stream])
		cur[e.stream] = ""
	}
	for s, c := range cur {
		if c != "" {
			joined[s] = append(joined[s], c) // output left without a newline
		}
	}
	wantErrStream := wantErr
	if tty {
		wantErrStream = nil
	}
	for stream, want := range map[string][]string{"stdout": wantOut, "stderr": wantErrStream} {
		got := joined[stream]
		if len(got) != len(want) {
			t.Errorf("%s: %d lines, want %d", stream, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("%s line %d: %q, want %q", stream, i, clip([]byte(got[i])), clip([]byte(want[i])))
				break
			}
		}
	}
	// The long line in 16 KiB pieces, and the last output, without a newline.
	if want := []int{dockerChunk, dockerChunk, len("no newline at exit")}; fmt.Sprint(pieces["stdout"]) != fmt.Sprint(want) {
		t.Errorf("partial stdout lines of %v bytes, want %v", pieces["stdout"], want)
	}
	t.Logf("%d log lines; stdout pieces %v", len(lines), pieces["stdout"])

	// Exactly Docker's records, with Docker's timestamps.
	docker := dockerRecords(t, cli, id, tty)
	if len(docker) != len(lines) {
		t.Errorf("%d log lines, Docker has %d records", len(lines), len(docker))
	}
	for i := range min(len(docker), len(lines)) {
		if docker[i] != lines[i] {
			t.Errorf("log line %d: %q, Docker's record: %q", i, clip([]byte(lines[i])), clip([]byte(docker[i])))
			break
		}
	}
}

// dockerRecords are the container's records in Docker's log so far, as CRI log lines.
func dockerRecords(t *testing.T, cli *client.Client, id string, tty bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dec := newDecoder(bufio.NewReader(rc), tty)
	var records []string
	for {
		rec, err := dec.next()
		if err == io.EOF {
			return records
		}
		if err != nil {
			t.Fatalf("Docker's logs: %v", err)
		}
		records = append(records, strings.TrimSuffix(string(appendCRI(nil, rec)), "\n"))
	}
}

// waitRecords waits until Docker's log of the container, without a TTY, holds n records.
func waitRecords(t *testing.T, cli *client.Client, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(dockerRecords(t, cli, id, false)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("Docker's log of %s holds fewer than %d records", id, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDockerFollow(t *testing.T) {
	cli := suiteDocker(t)
	ref := busyboxImage(t, cli)
	for _, tty := range []bool{false, true} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			const n = 1000
			id := createContainer(t, cli, ref, printScript(n, false), tty)
			m := NewManager(cli, t.TempDir())
			defer m.Close()
			path := filepath.Join(t.TempDir(), "0.log")
			startContainer(t, cli, id)
			m.Start(Container{ID: id, Path: path, TTY: tty})
			waitExit(t, cli, id)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := m.WaitCopied(ctx, Container{ID: id, Path: path, TTY: tty}); err != nil {
				t.Fatalf("WaitCopied: %v", err)
			}
			wantOut, wantErr := expectedOutput(n)
			if tty {
				// One stream, in order of printing.
				wantOut = nil
				for i := 1; i <= n; i++ {
					wantOut = append(wantOut, fmt.Sprintf("out %d", i))
					if i%100 == 0 {
						wantOut = append(wantOut, fmt.Sprintf("err %d", i))
					}
					if i == n/2 {
						wantOut = append(wantOut, longLine)
					}
				}
				wantOut = append(wantOut, "no newline at exit")
			}
			checkOutput(t, cli, id, tty, readLines(t, path), wantOut, wantErr)
		})
	}
}

// dockercri is killed while the container prints, after the kubelet rotated the log
// once; a new dockercri resumes: nothing lost, nothing twice.
func TestDockerResumeAfterCrash(t *testing.T) {
	cli := suiteDocker(t)
	ref := busyboxImage(t, cli)
	const n = 1000
	id := createContainer(t, cli, ref, printScript(n, true), false)
	state := t.TempDir()
	path := filepath.Join(t.TempDir(), "0.log")
	rotated := path + ".20260102-030405"

	m1 := NewManager(cli, state)
	defer m1.Close()
	startContainer(t, cli, id)
	m1.Start(Container{ID: id, Path: path})
	waitLines(t, 300, path)
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := m1.Reopen(id); err != nil {
		t.Fatal(err)
	}
	waitLines(t, 100, path)
	m1.abort() // kill -9: no position file written
	crashed := len(readLines(t, rotated, path))
	// The container prints on while no dockercri runs, which the new one must copy too.
	waitRecords(t, cli, id, len(dockerRecords(t, cli, id, false))+1)

	m2 := NewManager(cli, state)
	defer m2.Close()
	m2.Start(Container{ID: id, Path: path})
	waitExit(t, cli, id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m2.WaitCopied(ctx, Container{ID: id, Path: path}); err != nil {
		t.Fatalf("WaitCopied: %v", err)
	}
	lines := readLines(t, rotated, path)
	t.Logf("%d lines before the crash (%d before the rotation), %d in all", crashed, len(readLines(t, rotated)), len(lines))
	if crashed >= len(lines) {
		t.Errorf("the container had stopped printing before the crash")
	}
	wantOut, wantErr := expectedOutput(n)
	checkOutput(t, cli, id, false, lines, wantOut, wantErr)
}
