package crilog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/internal/testutil"
)

// t0 is when the test containers print.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func out(ts time.Time, line string) fakeRecord {
	return fakeRecord{Stream: "stdout", Time: ts, Line: line}
}
func errl(ts time.Time, line string) fakeRecord {
	return fakeRecord{Stream: "stderr", Time: ts, Line: line}
}

func newTestManager(t *testing.T, docker *fakeDocker, stateDir string) *Manager {
	t.Helper()
	m := NewManager(docker, stateDir)
	m.retryMin, m.retryMax, m.kickAfter = 5*time.Millisecond, 50*time.Millisecond, 200*time.Millisecond
	t.Cleanup(m.Close)
	return m
}

// criLine is the log line of a record as the kubelet expects it.
func criLine(r fakeRecord, tty bool) string {
	tag, content := "F", r.Line
	if c, ok := strings.CutSuffix(content, "\n"); ok {
		content = c
		if tty {
			content = strings.TrimSuffix(content, "\r")
		}
	} else {
		tag = "P"
	}
	return r.Time.UTC().Format(time.RFC3339Nano) + " " + r.Stream + " " + tag + " " + content
}

func criLines(tty bool, recs ...fakeRecord) []string {
	var lines []string
	for _, r := range recs {
		lines = append(lines, criLine(r, tty))
	}
	return lines
}

// readLines returns the lines of the files at paths, one after the other.
func readLines(t *testing.T, paths ...string) []string {
	t.Helper()
	var lines []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Fatalf("%s does not end with a newline: %q", p, clip(data[max(0, len(data)-80):]))
		}
		for l := range strings.Lines(string(data)) {
			lines = append(lines, strings.TrimSuffix(l, "\n"))
		}
	}
	return lines
}

// waitLines waits until the files at paths hold n lines.
func waitLines(t *testing.T, n int, paths ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		for _, p := range paths {
			data, _ := os.ReadFile(p)
			got += bytes.Count(data, []byte{'\n'})
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v hold %d lines, want %d", paths, got, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitCopied(t *testing.T, m *Manager, id, path string, tty bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitCopied(ctx, Container{ID: id, Path: path, TTY: tty}); err != nil {
		t.Fatalf("WaitCopied: %v", err)
	}
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) == len(want) {
		same := true
		for i := range got {
			if got[i] != want[i] {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	short := func(ls []string) string {
		var b strings.Builder
		for _, l := range ls {
			if len(l) > 100 {
				l = fmt.Sprintf("%s…(%d bytes)", l[:100], len(l))
			}
			b.WriteString("\n\t" + l)
		}
		return b.String()
	}
	t.Fatalf("log lines:%s\nwant:%s", short(got), short(want))
}

func TestFramesBecomeLines(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	recs := []fakeRecord{
		out(at(1), "hello\n"),
		errl(at(2), "oops\n"),
		out(at(3), "\n"),
		errl(at(4), "  spaced  out \t\n"),
	}
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs...)
	m.Start(Container{ID: "c1", Path: path})
	waitLines(t, len(recs), path)
	docker.Exit("c1", 0)
	waitCopied(t, m, "c1", path, false)
	got := readLines(t, path)
	checkLines(t, got, criLines(false, recs...))
	for i, want := range []string{" stdout F hello", " stderr F oops", " stdout F ", " stderr F   spaced  out \t"} {
		if !strings.HasSuffix(got[i], want) {
			t.Errorf("line %d: %q, want it to end with %q", i, got[i], want)
		}
	}
	// The stream was asked with Docker's timestamps, both streams, followed.
	calls := logCalls(docker)
	if len(calls) == 0 || !calls[0].Timestamps || !calls[0].ShowStdout || !calls[0].ShowStderr || !calls[0].Follow || calls[0].Since != "" {
		t.Errorf("first ContainerLogs: %+v", calls)
	}
	if last := calls[len(calls)-1]; last.Follow {
		t.Errorf("the last ContainerLogs, after the container stopped, follows: %+v", last)
	}
}

func TestLongLineIsPartialThenFull(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	// Docker cuts a 40000-byte line into two 16 KiB pieces and the rest, all stamped
	// as the first; output left without a newline at exit comes without one too.
	recs := []fakeRecord{
		out(at(1), strings.Repeat("a", dockerChunk)),
		out(at(1), strings.Repeat("b", dockerChunk)),
		out(at(1), strings.Repeat("c", 40000-2*dockerChunk)+"\n"),
		errl(at(2), "err\n"),
		out(at(3), "no newline"),
	}
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs...)
	docker.Exit("c1", 0)
	m.Start(Container{ID: "c1", Path: path})
	waitCopied(t, m, "c1", path, false)
	got := readLines(t, path)
	checkLines(t, got, criLines(false, recs...))
	for i, tag := range []string{"P", "P", "F", "F", "P"} {
		if f := strings.Fields(got[i]); f[2] != tag {
			t.Errorf("line %d tagged %s, want %s", i, f[2], tag)
		}
	}
}

func TestTTYRawStream(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	recs := []fakeRecord{
		out(at(1), "hello\r\n"),
		out(at(2), strings.Repeat("x", dockerChunk)), // a piece: the next timestamp follows it
		out(at(2), strings.Repeat("y", dockerChunk)),
		out(at(2), "end of long\r\n"),
		out(at(3), strings.Repeat("w", dockerChunk)+"\n"), // a full line of just a piece's size
		out(at(4), "2026-01-02T03:04:05Z looks like a timestamp\n"),
		out(at(5), "\r\n"),
		out(at(6), "prompt$ "),
	}
	want := criLines(true, recs...)
	docker.RunContainer("c1", true)
	docker.AddLogs("c1", recs[:4]...)
	m.Start(Container{ID: "c1", Path: path, TTY: true})
	waitLines(t, 4, path)
	docker.AddLogs("c1", recs[4:]...)
	docker.Exit("c1", 0)
	waitCopied(t, m, "c1", path, true)
	checkLines(t, readLines(t, path), want)
}

func TestTTYSkipsLinesWithoutTimestamp(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	docker.RunContainer("c1", true)
	docker.Exit("c1", 0)
	docker.LogsFn = func(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error) {
		var b bytes.Buffer
		b.Write(encodeRecord(out(at(1), "one\r\n"), true))
		b.WriteString("Error grabbing logs: unexpected EOF\n")
		b.Write(encodeRecord(out(at(2), "two\r\n"), true))
		return io.NopCloser(&b), nil
	}
	m.Start(Container{ID: "c1", Path: path, TTY: true})
	waitCopied(t, m, "c1", path, true)
	checkLines(t, readLines(t, path), criLines(true, out(at(1), "one\n"), out(at(2), "two\n")))
}

// sameTS are records as Docker stamps them when it cuts long lines: the pieces of a
// line share its first piece's timestamp.
func sameTS() []fakeRecord {
	return []fakeRecord{
		out(at(1*time.Millisecond), "1\n"),
		errl(at(2*time.Millisecond), "2\n"),
		out(at(3*time.Millisecond), strings.Repeat("a", dockerChunk)),
		out(at(3*time.Millisecond), strings.Repeat("b", dockerChunk)),
		out(at(3*time.Millisecond), strings.Repeat("c", dockerChunk)),
		out(at(3*time.Millisecond), "end\n"),
		out(at(4*time.Millisecond), "5\n"),
		errl(at(4*time.Millisecond), "6\n"),
	}
}

func TestResumeAfterRestart(t *testing.T) {
	recs := sameTS()
	for cut := 1; cut < len(recs); cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			docker := newFakeDocker()
			state, path := t.TempDir(), filepath.Join(t.TempDir(), "0.log")
			docker.RunContainer("c1", false)
			docker.AddLogs("c1", recs[:cut]...)
			m1 := newTestManager(t, docker, state)
			m1.Start(Container{ID: "c1", Path: path})
			waitLines(t, cut, path)
			m1.abort() // kill -9: no position file written

			// The container printed on meanwhile; dockercri restarts.
			docker.AddLogs("c1", recs[cut:]...)
			m2 := newTestManager(t, docker, state)
			m2.Start(Container{ID: "c1", Path: path})
			waitLines(t, len(recs), path)
			docker.Exit("c1", 0)
			waitCopied(t, m2, "c1", path, false)
			checkLines(t, readLines(t, path), criLines(false, recs...))
		})
	}
}

func TestResumeAfterTornWrite(t *testing.T) {
	recs := sameTS()
	docker := newFakeDocker()
	state, path := t.TempDir(), filepath.Join(t.TempDir(), "0.log")
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs[:4]...)
	m1 := newTestManager(t, docker, state)
	m1.Start(Container{ID: "c1", Path: path})
	waitLines(t, 4, path)
	m1.abort()
	// A crash in the middle of a write left half a line.
	torn := criLine(recs[4], false)[:100]
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(torn)
	f.Close()

	docker.AddLogs("c1", recs[4:]...)
	docker.Exit("c1", 0)
	m2 := newTestManager(t, docker, state)
	m2.Start(Container{ID: "c1", Path: path})
	waitCopied(t, m2, "c1", path, false)
	checkLines(t, readLines(t, path), criLines(false, recs...))
}

// Docker stamps a record when its stream's copier reads it, before storing it: a
// stderr record can be stored after a stdout one stamped later. Resuming from the
// newest timestamp would lose it.
func TestResumeWithRecordsStoredOutOfOrder(t *testing.T) {
	recs := []fakeRecord{
		out(at(500*time.Millisecond), "1\n"),
		out(at(700*time.Millisecond), "2\n"),
		errl(at(600*time.Millisecond), "3, stamped before 2\n"),
		out(at(800*time.Millisecond), "4\n"),
	}
	docker := newFakeDocker()
	state, path := t.TempDir(), filepath.Join(t.TempDir(), "0.log")
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs[:2]...)
	m1 := newTestManager(t, docker, state)
	m1.Start(Container{ID: "c1", Path: path})
	waitLines(t, 2, path)
	m1.abort()
	docker.AddLogs("c1", recs[2:]...)
	docker.Exit("c1", 0)
	m2 := newTestManager(t, docker, state)
	m2.Start(Container{ID: "c1", Path: path})
	waitCopied(t, m2, "c1", path, false)
	checkLines(t, readLines(t, path), criLines(false, recs...))
}

// The kubelet rotates a log while the container prints: it renames the file, then
// asks to reopen it. Every record lands in exactly one file.
func TestReopenAfterRename(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	docker.RunContainer("c1", false)
	m.Start(Container{ID: "c1", Path: path})

	const n = 3000
	var recs []fakeRecord
	for i := range n {
		ts := at(time.Duration(i/3) * time.Microsecond) // three records per timestamp
		if i%2 == 0 {
			recs = append(recs, out(ts, fmt.Sprintf("out %d\n", i)))
		} else {
			recs = append(recs, errl(ts, fmt.Sprintf("err %d\n", i)))
		}
	}
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for i := 0; i < n; i += 10 {
			docker.AddLogs("c1", recs[i:i+10]...)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	var files []string
	for i := 0; ; i++ {
		select {
		case <-printed:
		default:
			time.Sleep(time.Millisecond)
			rotated := fmt.Sprintf("%s.%03d", path, i)
			if err := os.Rename(path, rotated); err != nil {
				t.Fatal(err)
			}
			files = append(files, rotated)
			if err := m.Reopen("c1"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		break
	}
	if len(files) < 3 {
		t.Logf("rotated only %d times", len(files))
	}
	files = append(files, path)
	waitLines(t, n, files...)
	docker.Exit("c1", 0)
	waitCopied(t, m, "c1", path, false)
	checkLines(t, readLines(t, files...), criLines(false, recs...))
}

// The kubelet rotated the log, then dockercri was killed before the container
// printed again: the new log is empty, the position file tells where to resume.
func TestResumeFromPositionFile(t *testing.T) {
	recs := sameTS()
	docker := newFakeDocker()
	state, dir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "0.log")
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs[:5]...) // the long line is cut after its third piece
	m1 := newTestManager(t, docker, state)
	m1.Start(Container{ID: "c1", Path: path})
	waitLines(t, 5, path)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := m1.Reopen("c1"); err != nil {
		t.Fatal(err)
	}
	m1.abort()
	if st, err := os.Stat(path); err != nil || st.Size() != 0 {
		t.Fatalf("reopened log: %v, %v", st, err)
	}

	docker.AddLogs("c1", recs[5:]...)
	docker.Exit("c1", 0)
	m2 := newTestManager(t, docker, state)
	m2.Start(Container{ID: "c1", Path: path})
	waitCopied(t, m2, "c1", path, false)
	checkLines(t, readLines(t, path+".1"), criLines(false, recs[:5]...))
	checkLines(t, readLines(t, path), criLines(false, recs[5:]...))

	// Without the position file, the empty log would tell nothing: all is copied again.
	os.Remove(posPath(state, "c1"))
	os.Remove(path)
	m3 := newTestManager(t, docker, state)
	waitCopied(t, m3, "c1", path, false)
	checkLines(t, readLines(t, path), criLines(false, recs...))
}

// dockercri was killed between the kubelet's rename and its ReopenContainerLog: the
// log is gone; the records are in the renamed file, which the position file names.
func TestResumeFromRenamedLog(t *testing.T) {
	recs := sameTS()
	docker := newFakeDocker()
	state, dir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "0.log")
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs[:2]...)
	m1 := newTestManager(t, docker, state)
	m1.Start(Container{ID: "c1", Path: path})
	waitLines(t, 2, path)
	docker.AddLogs("c1", recs[2:4]...)
	waitLines(t, 4, path)
	rotated := path + ".20260102-030405"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	docker.AddLogs("c1", recs[4:6]...) // still written to the renamed file
	waitLines(t, 6, rotated)
	m1.abort()

	docker.AddLogs("c1", recs[6:]...)
	docker.Exit("c1", 0)
	m2 := newTestManager(t, docker, state)
	m2.Start(Container{ID: "c1", Path: path})
	waitCopied(t, m2, "c1", path, false)
	checkLines(t, readLines(t, rotated), criLines(false, recs[:6]...))
	checkLines(t, readLines(t, path), criLines(false, recs[6:]...))
}

// After a restart, a container that stopped meanwhile has no copier: WaitCopied
// copies what is missing, without following.
func TestWaitCopiedCatchesUp(t *testing.T) {
	recs := sameTS()
	docker := newFakeDocker()
	state, path := t.TempDir(), filepath.Join(t.TempDir(), "0.log")
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs[:3]...)
	m1 := newTestManager(t, docker, state)
	m1.Start(Container{ID: "c1", Path: path})
	waitLines(t, 3, path)
	m1.abort()
	docker.AddLogs("c1", recs[3:]...)
	docker.Exit("c1", 0)

	m2 := newTestManager(t, docker, state)
	before := len(logCalls(docker))
	waitCopied(t, m2, "c1", path, false)
	checkLines(t, readLines(t, path), criLines(false, recs...))
	calls := logCalls(docker)[before:]
	if len(calls) != 1 || calls[0].Follow || calls[0].Since == "" {
		t.Errorf("catch-up ContainerLogs calls: %+v", calls)
	}
	// Done: again at once, without asking Docker.
	waitCopied(t, m2, "c1", path, false)
	if n := len(logCalls(docker)); n != before+1 {
		t.Errorf("WaitCopied asked Docker again")
	}
	// Position file written when done.
	pf, err := readPosFile(posPath(state, "c1"))
	if err != nil || pf == nil || pf.Count == 0 || !pf.Max.Equal(recs[len(recs)-1].Time) {
		t.Errorf("position file: %+v, %v", pf, err)
	}
}

func TestWaitCopiedGone(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	err := m.WaitCopied(context.Background(), Container{ID: "gone", Path: filepath.Join(t.TempDir(), "0.log")})
	if err == nil {
		t.Fatal("WaitCopied of a missing container succeeded")
	}
}

// A stream that hangs after the container stopped is cut by WaitCopied.
func TestWaitCopiedKicksHungStream(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	docker.RunContainer("c1", false)
	recs := []fakeRecord{out(at(1), "a\n"), out(at(2), "b\n")}
	docker.AddLogs("c1", recs...)
	var hung sync.Once
	docker.LogsFn = func(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write(encodeRecord(recs[0], false))
			if opts.Follow {
				hung.Do(func() { <-ctx.Done() }) // never ends by itself
			} else {
				pw.Write(encodeRecord(recs[1], false))
			}
			pw.Close()
		}()
		return pr, nil
	}
	m.Start(Container{ID: "c1", Path: path})
	waitLines(t, 1, path)
	docker.Exit("c1", 0)
	waitCopied(t, m, "c1", path, false)
	checkLines(t, readLines(t, path), criLines(false, recs...))
}

// captureKlog collects klog's output for the test.
func captureKlog(t *testing.T) *testutil.SyncBuffer {
	var buf testutil.SyncBuffer
	klog.LogToStderr(false)
	// An error goes to the outputs of every severity up to its own: catch one.
	klog.SetOutputBySeverity("INFO", &buf)
	klog.SetOutputBySeverity("WARNING", io.Discard)
	klog.SetOutputBySeverity("ERROR", io.Discard)
	klog.SetOutputBySeverity("FATAL", io.Discard)
	t.Cleanup(func() {
		klog.Flush()
		klog.LogToStderr(true)
	})
	return &buf
}

// fullDisk is a Manager's writeFile that fails (half done, ENOSPC) while full.
type fullDisk struct {
	mu       sync.Mutex
	full     bool
	failures int
}

func (d *fullDisk) write(f *os.File, b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.full {
		d.failures++
		n, _ := f.Write(b[:len(b)/2])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.Write(b)
}

func (d *fullDisk) set(full bool) {
	d.mu.Lock()
	d.full = full
	d.mu.Unlock()
}

// waitFailures waits for n failed writes.
func (d *fullDisk) waitFailures(n int) {
	for {
		d.mu.Lock()
		got := d.failures
		d.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// checkLoggedOnce checks that a write failure was logged once, naming container c1.
func checkLoggedOnce(t *testing.T, logs fmt.Stringer) {
	t.Helper()
	klog.Flush()
	if n := strings.Count(logs.String(), "Cannot write the container's log"); n != 1 {
		t.Errorf("the write failure was logged %d times:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), `containerID="c1"`) {
		t.Errorf("the failure log does not name the container:\n%s", logs)
	}
}

// A full disk: the write fails (half done), is logged once, and is retried until it
// works; nothing is lost or torn.
func TestWriteErrorIsRetried(t *testing.T) {
	logs := captureKlog(t)
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	var disk fullDisk
	m.writeFile = disk.write
	recs := sameTS()
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs[:2]...)
	m.Start(Container{ID: "c1", Path: path})
	waitLines(t, 2, path)
	disk.set(true)
	docker.AddLogs("c1", recs[2:]...)
	disk.waitFailures(3)
	disk.set(false)
	docker.Exit("c1", 0)
	waitCopied(t, m, "c1", path, false)
	checkLines(t, readLines(t, path), criLines(false, recs...))
	checkLoggedOnce(t, logs)
}

// A log directory that does not exist yet: the copier waits for it.
func TestUnwritableLogIsRetried(t *testing.T) {
	captureKlog(t)
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	dir := filepath.Join(t.TempDir(), "pod")
	path := filepath.Join(dir, "0.log")
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", out(at(1), "a\n"))
	m.Start(Container{ID: "c1", Path: path})
	// WaitCopied does not wait for the failure to go away.
	docker.Exit("c1", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitCopied(ctx, Container{ID: "c1", Path: path}); err == nil || ctx.Err() != nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WaitCopied while the log cannot be written: %v", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitLines(t, 1, path)
	waitCopied(t, m, "c1", path, false)
	checkLines(t, readLines(t, path), criLines(false, out(at(1), "a\n")))
}

func TestMalformedStreamDoesNotPanic(t *testing.T) {
	captureKlog(t)
	good := []fakeRecord{out(at(1), "one\n"), errl(at(2), "two\n")}
	bodies := map[string][]byte{
		"unknown stream": append(frame("stdout", "x"), 7, 0, 0, 0, 0, 0, 0, 1, 'x'),
		"huge frame":     {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'x'},
		"cut header":     {1, 0, 0},
		"cut payload":    {2, 0, 0, 0, 0, 0, 0, 9, 'a', 'b'},
		"no timestamp":   frame("stderr", "Error grabbing logs: invalid character\n"),
		"bad timestamp":  frame("stdout", "2026-13-45T99:99:99Z x\n"),
		"empty payload":  frame("stdout", ""),
		"docker error":   frame("system", "error from daemon"),
	}
	for name, bad := range bodies {
		t.Run(name, func(t *testing.T) {
			docker := newFakeDocker()
			m := newTestManager(t, docker, t.TempDir())
			path := filepath.Join(t.TempDir(), "0.log")
			docker.RunContainer("c1", false)
			docker.Exit("c1", 0)
			docker.LogsFn = func(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error) {
				var b bytes.Buffer
				b.Write(encodeRecord(good[0], false))
				b.Write(bad)
				b.Write(encodeRecord(good[1], false))
				return io.NopCloser(&b), nil
			}
			m.Start(Container{ID: "c1", Path: path})
			waitLines(t, 1, path)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			m.WaitCopied(ctx, Container{ID: "c1", Path: path}) // may never finish: the stream stays broken
			m.Stop("c1")
			got := readLines(t, path)
			if len(got) == 0 || got[0] != criLine(good[0], false) {
				t.Fatalf("log: %q", got)
			}
			for i, l := range got {
				if strings.Count(strings.Join(got, "\n"), l) > 1 {
					t.Errorf("line %d twice: %q", i, l)
				}
			}
		})
	}
}

func TestStopAndCloseWritePositionFiles(t *testing.T) {
	docker := newFakeDocker()
	state := t.TempDir()
	m := newTestManager(t, docker, state)
	dir := t.TempDir()
	for _, id := range []string{"c1", "c2"} {
		docker.RunContainer(id, false)
		docker.AddLogs(id, sameTS()...)
		m.Start(Container{ID: id, Path: filepath.Join(dir, id+".log")})
		waitLines(t, len(sameTS()), filepath.Join(dir, id+".log"))
		os.Remove(posPath(state, id))
	}
	m.Stop("c1")
	if err := m.Reopen("c1"); err == nil {
		t.Error("Reopen of a stopped copier succeeded")
	}
	pf, err := readPosFile(posPath(state, "c1"))
	if err != nil || pf == nil {
		t.Fatalf("position file after Stop: %v, %v", pf, err)
	}
	st, _ := os.Stat(filepath.Join(dir, "c1.log"))
	if !pf.covers(st) || pf.Size != st.Size() || pf.Count != len(sameTS()) || !pf.Max.Equal(at(4*time.Millisecond)) {
		t.Errorf("position file %+v for %d bytes", pf, st.Size())
	}
	m.Close()
	if pf, err := readPosFile(posPath(state, "c2")); err != nil || pf == nil || pf.Count != len(sameTS()) {
		t.Errorf("position file after Close: %+v, %v", pf, err)
	}
	if err := m.WaitCopied(context.Background(), Container{ID: "c2", Path: filepath.Join(dir, "c2.log")}); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitCopied after Close: %v", err)
	}
}

// Start of a container whose copier is done (it stopped, then ran again): a new
// copier resumes after what is written.
func TestStartAgainAfterDone(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	recs := sameTS()
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs[:3]...)
	docker.Exit("c1", 0)
	m.Start(Container{ID: "c1", Path: path})
	waitCopied(t, m, "c1", path, false)
	docker.RunContainer("c1", false)
	docker.AddLogs("c1", recs[3:]...)
	m.Start(Container{ID: "c1", Path: path})
	waitLines(t, len(recs), path)
	docker.Exit("c1", 0)
	waitCopied(t, m, "c1", path, false)
	checkLines(t, readLines(t, path), criLines(false, recs...))
}

func TestPrune(t *testing.T) {
	docker := newFakeDocker()
	state := t.TempDir()
	m := newTestManager(t, docker, state)
	docker.RunContainer("alive", false)
	for _, name := range []string{"alive.pos", "gone.pos", "gone.pos.tmp123", "other"} {
		if err := os.WriteFile(filepath.Join(state, name), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m.prune(context.Background(), 0)
	var left []string
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, ",") != "alive.pos,other" {
		t.Errorf("left after prune: %v", left)
	}
}

func TestPosition(t *testing.T) {
	var p position
	if s, n := p.resume(time.Second); !s.IsZero() || n != 0 {
		t.Fatalf("empty position resumes at %v, %d", s, n)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	for _, d := range []time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond, 900 * time.Millisecond, 1500 * time.Millisecond} {
		p.add(base.Add(d))
	}
	// newest 3:04:07.1; since 3:04:06 (a whole second at least a margin before).
	since, skip := p.resume(time.Second)
	if want := time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC); !since.Equal(want) || skip != 2 {
		t.Errorf("resume: %v, %d", since, skip)
	}
	p.prune(time.Second)
	if s2, k2 := p.resume(time.Second); !s2.Equal(since) || k2 != skip {
		t.Errorf("prune changed the position: %v, %d", s2, k2)
	}

	// A position file's bucket is not split.
	pf := posFile{Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Count: 7, Max: time.Date(2026, 1, 2, 3, 4, 8, 0, time.UTC)}
	q := pf.position()
	q.add(time.Date(2026, 1, 2, 3, 4, 8, 500, time.UTC))
	if s, n := q.resume(time.Second); !s.Equal(pf.Since) || n != 8 {
		t.Errorf("resume with a position file: %v, %d", s, n)
	}
	q.add(time.Date(2026, 1, 2, 3, 4, 20, 0, time.UTC))
	if s, n := q.resume(time.Second); !s.Equal(time.Date(2026, 1, 2, 3, 4, 19, 0, time.UTC)) || n != 1 {
		t.Errorf("resume past a position file: %v, %d", s, n)
	}
}

// The position is read from the end of a long log only.
func TestScanTailReadsLittle(t *testing.T) {
	var b []byte
	const n = 100000
	for i := range n {
		b = appendCRI(b, record{stream: streamStdout, ts: at(time.Duration(i) * 10 * time.Millisecond), content: []byte("line")})
	}
	r := &countingReader{r: bytes.NewReader(b)}
	ts, covered, err := scanTail(r, 0, int64(len(b)), time.Second)
	if err != nil || !covered {
		t.Fatalf("scanTail: %v, covered %v", err, covered)
	}
	if r.n > 4*scanChunk || len(ts) > 400 {
		t.Errorf("scanTail read %d bytes, %d lines", r.n, len(ts))
	}
	p := fromRecords(ts, nil, false, time.Second)
	since, skip := p.resume(time.Second)
	last := at((n - 1) * 10 * time.Millisecond)
	if want := last.Add(-time.Second).Truncate(time.Second); !since.Equal(want) {
		t.Errorf("since %v, want %v", since, want)
	}
	var want int
	for i := range n {
		if !at(time.Duration(i) * 10 * time.Millisecond).Before(since) {
			want++
		}
	}
	if skip != want {
		t.Errorf("skip %d, want %d", skip, want)
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += n
	return n, err
}

// ReopenContainerLog of a log that was not moved is a no-op that succeeds: the copier
// goes on writing the same file (a second lock on it was refused before).
func TestReopenWithoutRename(t *testing.T) {
	docker := newFakeDocker()
	m := newTestManager(t, docker, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	docker.RunContainer("c1", false)
	m.Start(Container{ID: "c1", Path: path})
	docker.AddLogs("c1", out(at(0), "one\n"))
	waitLines(t, 1, path)
	for range 2 {
		if err := m.Reopen("c1"); err != nil {
			t.Fatalf("Reopen of a log that was not moved: %v", err)
		}
	}
	docker.AddLogs("c1", out(at(time.Microsecond), "two\n"))
	waitLines(t, 2, path)
	checkLines(t, readLines(t, path), criLines(false, out(at(0), "one\n"), out(at(time.Microsecond), "two\n")))
}
