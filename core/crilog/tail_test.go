package crilog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/daemon/logger/jsonfilelog/jsonlog"
)

// dockerLog writes a container's json-file as Docker's json-file driver does: its own
// marshalling, one write per record, and its rotation (loggerutils.LogFile: at a write
// that finds the file at max-size, drop <log>.<max-file - 1>, rename each <log>.N to
// N+1, the log to <log>.1, and create it anew).
type dockerLog struct {
	t       *testing.T
	id      string
	path    string
	maxSize int64 // 0: no rotation
	maxFile int

	mu      sync.Mutex
	f       *os.File
	size    int64
	ts      time.Time
	rotated int
	printed []fakeRecord
}

func (d *dockerLog) rotations() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rotated
}

func newDockerLog(t *testing.T, id string, maxSize int64, maxFile int) *dockerLog {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := &dockerLog{t: t, id: id, path: filepath.Join(dir, id+"-json.log"), maxSize: maxSize, maxFile: maxFile, ts: t0}
	d.open()
	t.Cleanup(func() { d.f.Close() })
	return d
}

func (d *dockerLog) open() {
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o640)
	if err != nil {
		d.t.Fatal(err)
	}
	d.f, d.size = f, 0
}

// container is what the tailer is told of the container, with CRI log path.
func (d *dockerLog) container(path string) Container {
	return Container{ID: d.id, Path: path, DockerLog: d.path}
}

// print writes records; a record's line ends with a newline unless it is partial.
func (d *dockerLog) print(recs ...fakeRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range recs {
		if d.maxSize > 0 && d.size >= d.maxSize {
			d.rotate()
		}
		var b bytes.Buffer
		if err := (&jsonlog.JSONLogs{Log: []byte(r.Line), Stream: r.Stream, Created: r.Time}).MarshalJSONBuf(&b); err != nil {
			d.t.Fatal(err)
		}
		b.WriteByte('\n')
		n, err := d.f.Write(b.Bytes())
		if err != nil {
			d.t.Fatal(err)
		}
		d.size += int64(n)
	}
}

func (d *dockerLog) rotate() {
	d.f.Close()
	os.Remove(fmt.Sprintf("%s.%d", d.path, d.maxFile-1))
	for i := d.maxFile - 1; i > 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", d.path, i-1), fmt.Sprintf("%s.%d", d.path, i))
	}
	if err := os.Rename(d.path, d.path+".1"); err != nil {
		d.t.Fatal(err)
	}
	d.open()
	d.rotated++
}

// printLines prints n more records "line <i>", i counting all printed so far, one a
// millisecond after the other, every seventh on stderr; printed lists them all.
func (d *dockerLog) printLines(n int) {
	d.mu.Lock()
	var recs []fakeRecord
	for range n {
		i := len(d.printed)
		d.ts = d.ts.Add(time.Millisecond)
		stream := "stdout"
		if i%7 == 0 {
			stream = "stderr"
		}
		rec := fakeRecord{Stream: stream, Time: d.ts, Line: fmt.Sprintf("line %d\n", i)}
		d.printed = append(d.printed, rec)
		recs = append(recs, rec)
	}
	d.mu.Unlock()
	d.print(recs...)
}

// want is the CRI log of the lines printed.
func (d *dockerLog) want() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return criLines(false, d.printed...)
}

// startTail starts copying d's container, in a Manager of its own state directory
// (set up first by setup), then prints n lines and waits for them in the CRI log.
func startTail(t *testing.T, d *dockerLog, n int, setup ...func(*Manager)) (m *Manager, state, path string) {
	t.Helper()
	state = t.TempDir()
	path = filepath.Join(t.TempDir(), "0.log")
	m = newTailManager(t, state)
	for _, f := range setup {
		f(m)
	}
	m.Start(d.container(path))
	d.printLines(n)
	waitLines(t, n, path)
	return m, state, path
}

func newTailManager(t testing.TB, state string) *Manager {
	t.Helper()
	m := NewManager(newFakeDocker(), state)
	if m.watch == nil {
		t.Fatal("no inotify watcher")
	}
	m.retryMin, m.retryMax = 5*time.Millisecond, 50*time.Millisecond
	t.Cleanup(m.Close)
	return m
}

func waitTailed(t testing.TB, m *Manager, c Container) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitCopied(ctx, c); err != nil {
		t.Fatalf("WaitCopied: %v", err)
	}
}

func tailerOf(t *testing.T, m *Manager, id string) *tailer {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	tl := m.tailers[id]
	if tl == nil {
		t.Fatalf("container %s is not copied from Docker's log file", id)
	}
	return tl
}

// The records of Docker's json-file, as they come (long lines in pieces, both
// streams, escapes, output without a newline at the end), become CRI lines; nothing
// asks Docker's API for them.
func TestTailCopiesDockerLogFile(t *testing.T) {
	d := newDockerLog(t, "c1", 0, 0)
	m := newTailManager(t, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	piece := strings.Repeat("x", dockerChunk)
	recs := []fakeRecord{
		out(at(1), "one\n"), errl(at(2), "two\n"), out(at(3), "tab\tquote\"<>&\\\n"),
		out(at(4), piece), out(at(4), piece), out(at(4), "end\n"),
	}
	d.print(recs[:2]...)
	m.Start(d.container(path))
	waitLines(t, 2, path)
	d.print(recs[2:]...)
	waitLines(t, len(recs), path)
	last := out(at(5), "no newline")
	d.print(last)
	waitTailed(t, m, d.container(path))
	checkLines(t, readLines(t, path), criLines(false, append(recs, last)...))
	if calls := logCalls(m.docker.(*fakeDocker)); len(calls) != 0 {
		t.Errorf("Docker's logs API was called: %v", calls)
	}
	// Done: the files are closed, and Start of the container running again goes on.
	more := out(at(6), "again\n")
	d.print(more)
	m.Start(d.container(path))
	waitLines(t, len(recs)+2, path)
	waitTailed(t, m, d.container(path))
	checkLines(t, readLines(t, path), criLines(false, append(recs, last, more)...))
}

// A container printing through many of Docker's rotations, with the tailer copying
// alongside: every record once, in order.
func TestTailFollowsDockerRotation(t *testing.T) {
	d := newDockerLog(t, "c1", 2000, 10)
	m, _, path := startTail(t, d, 1, func(m *Manager) { m.gather = 0 })
	for i := range 40 {
		d.printLines(25)
		if i%4 == 0 {
			waitLines(t, len(d.want()), path) // let it catch up now and then
		}
	}
	waitTailed(t, m, d.container(path))
	checkLines(t, readLines(t, path), d.want())
}

// dockercri is killed (no position file written on the way out) at different points,
// while Docker goes on writing and rotating; the next one resumes: nothing is lost,
// nothing is written twice.
func TestTailResumeAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name      string
		posEvery  int64
		rotations int
	}{
		{"position file at start only", 1 << 30, 0},
		{"rotated while down", 1 << 30, 1},
		{"rotated twice while down", 1 << 30, 2},
		{"position files along the way", 300, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDockerLog(t, "c1", 1500, 4)
			m1, state, path := startTail(t, d, 30, func(m *Manager) { m.posEvery = tc.posEvery })
			d.printLines(5)
			waitLines(t, 35, path)
			m1.abort()

			// While down: enough for the rotations asked for.
			for start := d.rotations(); d.rotations()-start < tc.rotations; {
				d.printLines(5)
			}
			d.printLines(5)
			m2 := newTailManager(t, state)
			m2.Start(d.container(path))
			d.printLines(10)
			waitTailed(t, m2, d.container(path))
			checkLines(t, readLines(t, path), d.want())
		})
	}
}

// A crash in the middle of a write leaves a torn line at the end of the CRI log: it is
// cut, and its record written again, whole.
func TestTailResumeAfterTornWrite(t *testing.T) {
	d := newDockerLog(t, "c1", 0, 0)
	var tear atomic.Bool
	torn := make(chan struct{})
	m1, state, path := startTail(t, d, 10, func(m *Manager) {
		m.writeFile = func(f *os.File, b []byte) (int, error) {
			if !tear.Load() {
				return f.Write(b)
			}
			f.Write(b[:len(b)/2+3])
			close(torn)
			select {} // killed in the middle of the write
		}
	})
	tear.Store(true)
	d.printLines(10)
	<-torn
	tl := tailerOf(t, m1, "c1")
	m1.mu.Lock()
	m1.closed = true // as dead as a killed process: its tailer never lets go
	m1.mu.Unlock()
	// Its lock on the log goes with the process: release it, as the kernel would.
	syscall.Flock(int(tl.log.f.Fd()), syscall.LOCK_UN)

	m2 := newTailManager(t, state)
	m2.Start(d.container(path))
	waitTailed(t, m2, d.container(path))
	checkLines(t, readLines(t, path), d.want())
}

// The kubelet rotates the CRI log while the container prints: each record in exactly
// one file; a crash between its rename and ReopenContainerLog loses nothing either.
func TestTailReopenAfterRename(t *testing.T) {
	d := newDockerLog(t, "c1", 0, 0)
	m, state, path := startTail(t, d, 10)
	var files []string
	for i := range 3 {
		old := fmt.Sprintf("%s.%d", path, i)
		if err := os.Rename(path, old); err != nil {
			t.Fatal(err)
		}
		files = append(files, old)
		d.printLines(5) // before or after the reopen
		if err := m.Reopen("c1"); err != nil {
			t.Fatal(err)
		}
		d.printLines(5)
		waitLines(t, len(d.want()), append(files, path)...)
	}
	// Renamed, then killed before ReopenContainerLog.
	if err := os.Rename(path, path+".3"); err != nil {
		t.Fatal(err)
	}
	files = append(files, path+".3")
	m.abort()
	d.printLines(5)
	m2 := newTailManager(t, state)
	m2.Start(d.container(path))
	waitTailed(t, m2, d.container(path))
	checkLines(t, readLines(t, append(files, path)...), d.want())
	if err := m2.Reopen("c1"); err != nil {
		t.Errorf("Reopen of a log that was not moved: %v", err)
	}
}

// dockercri was down while Docker rotated the file it was reading away altogether:
// that is said, and the copying goes on with what Docker still holds, nothing twice.
func TestTailRotatedAwayWhileDown(t *testing.T) {
	logs := captureKlog(t)
	d := newDockerLog(t, "c1", 500, 2)
	m1, state, path := startTail(t, d, 5)
	m1.Close()
	d.printLines(60)
	m2 := newTailManager(t, state)
	m2.Start(d.container(path))
	waitTailed(t, m2, d.container(path))
	got, want := readLines(t, path), d.want()
	if len(got) <= 5 || len(got) >= len(want) {
		t.Fatalf("%d lines, want some of the %d printed while down lost", len(got), len(want))
	}
	checkLines(t, got[:5], want[:5])
	checkLines(t, got[5:], want[len(want)-(len(got)-5):])
	if !strings.Contains(logs.String(), "lines are lost") {
		t.Errorf("the loss was not logged:\n%s", logs)
	}
}

// A full disk: the write fails (half done), is logged once, and is retried until it
// works; nothing is lost or torn; WaitCopied says why it cannot finish.
func TestTailWriteErrorIsRetried(t *testing.T) {
	logs := captureKlog(t)
	d := newDockerLog(t, "c1", 0, 0)
	var disk fullDisk
	m, _, path := startTail(t, d, 5, func(m *Manager) { m.writeFile = disk.write })
	disk.set(true)
	d.printLines(5)
	disk.waitFailures(3)
	if err := m.WaitCopied(context.Background(), d.container(path)); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("WaitCopied on a full disk: %v", err)
	}
	disk.set(false)
	waitLines(t, len(d.want()), path)
	waitTailed(t, m, d.container(path))
	checkLines(t, readLines(t, path), d.want())
	checkLoggedOnce(t, logs)
}

// A log directory that does not exist yet: the tailer waits for it.
func TestTailUnwritableLogIsRetried(t *testing.T) {
	captureKlog(t)
	d := newDockerLog(t, "c1", 0, 0)
	m := newTailManager(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "pod")
	path := filepath.Join(dir, "0.log")
	d.print(out(at(1), "a\n"))
	// Chosen as it would be with the log there.
	tl := m.newTailerLocked(d.container(path))
	tl.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitCopied(ctx, d.container(path)); err == nil || ctx.Err() != nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WaitCopied while the log cannot be written: %v", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitLines(t, 1, path)
	waitTailed(t, m, d.container(path))
	checkLines(t, readLines(t, path), criLines(false, out(at(1), "a\n")))
}

// Lines of Docker's file that are not records (a dockerd killed in the middle of a
// write, then appending on) are skipped; the records around them are copied.
func TestTailSkipsBrokenLines(t *testing.T) {
	captureKlog(t)
	d := newDockerLog(t, "c1", 0, 0)
	m := newTailManager(t, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	d.print(out(at(1), "one\n"))
	d.f.WriteString(`{"log":"torn`)
	d.print(out(at(2), "two\n"))
	d.f.WriteString("\n\x00garbage\n" + `{"log":"x\n","stream":"stdin","time":"2026-01-02T03:04:05Z"}` + "\n")
	d.print(out(at(3), "three\n"))
	m.Start(d.container(path))
	waitTailed(t, m, d.container(path))
	checkLines(t, readLines(t, path), criLines(false, out(at(1), "one\n"), out(at(3), "three\n")))
}

// After a restart, a container that stopped meanwhile has no tailer: WaitCopied
// copies what is missing. One whose Docker log is gone is an error.
func TestTailWaitCopiedCatchesUp(t *testing.T) {
	d := newDockerLog(t, "c1", 0, 0)
	m1, state, path := startTail(t, d, 5)
	m1.Close()
	d.printLines(5)
	m2 := newTailManager(t, state)
	waitTailed(t, m2, d.container(path))
	checkLines(t, readLines(t, path), d.want())

	captureKlog(t)
	os.RemoveAll(filepath.Dir(d.path))
	m3 := newTailManager(t, state)
	tl := m3.newTailerLocked(d.container(path))
	if err := tl.waitCopied(context.Background()); !errors.Is(err, errDockerLogGone) {
		t.Errorf("WaitCopied of a removed container: %v", err)
	}
}

// Docker's log that is not there (Docker on another host), and a container copied
// through the logs API so far (its position file, or a log without the tailer's): the
// logs API.
func TestTailOrStream(t *testing.T) {
	d := newDockerLog(t, "c1", 0, 0)
	state := t.TempDir()
	m := newTailManager(t, state)
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	if !m.tails(d.container(path)) {
		t.Error("a new container is not copied from Docker's log file")
	}
	elsewhere := filepath.Join(t.TempDir(), "c1", "c1-json.log") // Docker's directory is not here
	if m.tails(Container{ID: "c1", Path: path}) || m.tails(Container{ID: "c1", Path: path, DockerLog: elsewhere}) {
		t.Error("a container without Docker's log file is copied from it")
	}
	os.WriteFile(path, []byte("2026-01-02T03:04:05Z stdout F old\n"), 0o600)
	if m.tails(d.container(path)) {
		t.Error("a log written through the logs API is taken over")
	}
	os.WriteFile(path, nil, 0o600)
	os.WriteFile(posPath(state, "c1"), []byte(`{}`), 0o600)
	if m.tails(d.container(path)) {
		t.Error("a container with the logs API's position file is taken over")
	}
	os.WriteFile(tailPath(state, "c1"), []byte(`{}`), 0o600)
	if !m.tails(d.container(path)) {
		t.Error("a container with a tailer's position file is not copied from Docker's log file")
	}
}

// A container started while Docker rotates its file (renamed, the next not created
// yet: a container printing fast has Docker do so every few milliseconds) is copied
// from Docker's files all the same, not through the logs API.
func TestTailStartsMidRotation(t *testing.T) {
	d := newDockerLog(t, "c1", 0, 0)
	d.printLines(5)
	d.f.Close()
	if err := os.Rename(d.path, d.path+".1"); err != nil {
		t.Fatal(err)
	}
	m := newTailManager(t, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	m.Start(d.container(path))
	waitLines(t, 5, path)
	d.open()
	d.printLines(5)
	waitTailed(t, m, d.container(path))
	checkLines(t, readLines(t, path), d.want())
	if calls := logCalls(m.docker.(*fakeDocker)); len(calls) != 0 {
		t.Errorf("Docker's logs API was called: %v", calls)
	}
}

// Stop and Close write the position file; a stopped tailer does nothing more.
func TestTailStopAndClose(t *testing.T) {
	state := t.TempDir()
	m := newTailManager(t, state)
	dir := t.TempDir()
	logs := map[string]*dockerLog{}
	for _, id := range []string{"c1", "c2"} {
		d := newDockerLog(t, id, 0, 0)
		logs[id] = d
		d.printLines(3)
		m.Start(d.container(filepath.Join(dir, id+".log")))
		waitLines(t, 3, filepath.Join(dir, id+".log"))
		os.Remove(tailPath(state, id))
	}
	m.Stop("c1")
	if err := m.Reopen("c1"); err == nil {
		t.Error("Reopen of a stopped container succeeded")
	}
	check := func(id string) {
		pf, err := readTailPos(tailPath(state, id))
		st, _ := statPath(filepath.Join(dir, id+".log"))
		src, _ := statPath(logs[id].path)
		if err != nil || pf == nil || pf.Dst != st.key || pf.Size != st.size || pf.Src != src.key || pf.Off != src.size {
			t.Errorf("position file of %s: %+v, %v", id, pf, err)
		}
	}
	check("c1")
	m.Close()
	check("c2")
	if err := m.WaitCopied(context.Background(), logs["c2"].container(filepath.Join(dir, "c2.log"))); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitCopied after Close: %v", err)
	}
}

// A quiet container costs nothing: no goroutine waits for it.
func TestTailIdleHoldsNoGoroutine(t *testing.T) {
	d := newDockerLog(t, "c1", 0, 0)
	m := newTailManager(t, t.TempDir())
	path := filepath.Join(t.TempDir(), "0.log")
	m.Start(d.container(path))
	d.print(out(at(1), "a\n"))
	waitLines(t, 1, path)
	tl := tailerOf(t, m, "c1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		tl.sched.Lock()
		running := tl.running
		tl.sched.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tailer of a quiet container keeps running")
		}
		time.Sleep(time.Millisecond)
	}
	d.print(out(at(2), "b\n"))
	waitLines(t, 2, path) // woken by the watch
}

func TestTailPrune(t *testing.T) {
	state := t.TempDir()
	m := newTailManager(t, state)
	for _, name := range []string{tailPath(state, "gone"), tailPath(state, "gone") + ".tmp-123"} {
		os.WriteFile(name, []byte(`{}`), 0o600)
		old := time.Now().Add(-time.Hour)
		os.Chtimes(name, old, old)
	}
	m.prune(context.Background(), time.Minute)
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		t.Errorf("left after prune: %s", e.Name())
	}
}
