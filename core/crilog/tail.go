package crilog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

const (
	// readBuffer is how much of Docker's json-file a tailer reads at a time (and about
	// what it then writes in one go). Buffers are pooled: an idle container holds none.
	readBuffer = 64 << 10
	// maxJSONLine bounds a line of Docker's json-file held in memory: Docker's records
	// are at most 16 KiB of message, six times that escaped, and its attributes; a
	// longer line is not a record and is skipped.
	maxJSONLine = 8 << 20
)

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBuffer); return &b }}

// errDockerLogGone: Docker's json-file of the container is gone (it was removed).
var errDockerLogGone = errors.New("docker's log file of the container is gone (the container was removed)")

// final tells whether err ends a tailer's copying for good, rather than being retried:
// Docker's files are gone, or a symlink was put at the log path.
func final(err error) bool {
	return errors.Is(err, errDockerLogGone) || errors.Is(err, ErrSymlink)
}

// tailer copies one container's output from Docker's json-file, as Docker appends to
// it and rotates it, into its CRI log. Nothing runs for it while the container is
// quiet: the Manager's watcher wakes it (kick), and a goroutine copies what was
// appended, then arms the watch again and ends.
//
// Where it is (the json-file being read and the offset of its first record not
// copied) is exact while it runs. After a crash it is worked out from the position
// file, written now and then, and the CRI log: the lines the log holds beyond the
// size the position file gives are those of the records that follow its offset, one
// or more per record as appendRecord makes them; they are counted and those records
// skipped (see load).
type tailer struct {
	m    *Manager
	c    Container
	dir  string // Docker's directory of the container
	base string // the json-file's name in it

	// Guarded by the watcher's mu.
	dirWD, fileWD int32
	// dirGone: Docker's directory went away with the container.
	dirGone atomic.Bool

	// lock is held by whoever reads or writes the files below: a token in a channel,
	// so that WaitCopied can stop waiting for it.
	lock chan struct{}

	loaded  bool
	src     *os.File // the json-file being read; Docker may have rotated it away since
	srcKey  fileKey
	off     int64 // in src, of the first record not copied
	seen    int64 // in src, how far it was read (an incomplete record may follow off)
	saved   int64 // off when the position file was written last
	skip    int   // lines of the CRI log still to recognise after a crash (load)
	log     criFile
	logKey  fileKey // of the CRI log the position covers
	done    bool    // copied to the end (finish), given up, or stopped: files closed
	stopped bool    // Stop or Close: nothing more, ever
	err     error   // why it gave up
	fails   failures
	delay   time.Duration // before the next retry
	retry   *time.Timer   // a kick to come
	// unwatched: Docker's directory could not be watched (the inotify watches ran out).
	unwatched bool

	sched            sync.Mutex
	running, pending bool
}

func newTailer(m *Manager, c Container) *tailer {
	return &tailer{
		m: m, c: c, dir: filepath.Dir(c.DockerLog), base: filepath.Base(c.DockerLog),
		dirWD: -1, fileWD: -1, lock: make(chan struct{}, 1), delay: m.retryMin,
	}
}

// kick makes the tailer copy what Docker appended, in a goroutine of its own.
func (t *tailer) kick() {
	t.sched.Lock()
	defer t.sched.Unlock()
	if t.running {
		t.pending = true
		return
	}
	t.running = true
	go t.run()
}

func (t *tailer) run() {
	// Let a container printing without a pause write a little more: each pass then
	// copies more at a time, for fewer system calls and wake-ups on both sides.
	if t.m.gather > 0 {
		time.Sleep(t.m.gather)
	}
	for {
		t.pass()
		t.sched.Lock()
		if !t.pending {
			t.running = false
			t.sched.Unlock()
			return
		}
		t.pending = false
		t.sched.Unlock()
	}
}

func (t *tailer) acquire(ctx context.Context) error {
	select {
	case t.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *tailer) release() { <-t.lock }

// pass copies all there is to copy, then watches for more.
func (t *tailer) pass() {
	t.lock <- struct{}{}
	defer t.release()
	if t.done {
		return
	}
	if err := t.copyAndWatch(); err != nil {
		if final(err) {
			t.giveUp(err)
			return
		}
		var we *writeError
		if errors.As(err, &we) {
			t.report("write the container's log", err)
		} else {
			t.report("read the container's output from Docker's log file", err)
		}
		t.retryLater()
		return
	}
	t.recovered()
}

// copyAndWatch copies what there is, then arms the watch of the json-file and copies
// again what was written before it was armed.
func (t *tailer) copyAndWatch() error {
	for {
		if err := t.copyAll(); err != nil {
			return err
		}
		if t.dirGone.Load() {
			return errDockerLogGone
		}
		if err := t.m.watch.arm(t); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				// Docker is rotating: the new file's creation wakes the tailer, and
				// so does a timer, should that event not come.
				t.wakeIn(t.m.retryMin)
				return nil
			}
			return err
		}
		more, err := t.more()
		if err != nil {
			return err
		}
		if !more {
			if t.unwatched {
				// Without the directory's watch a rotation would go unseen: look again
				// now and then.
				t.wakeIn(t.m.retryMax)
			}
			return nil
		}
	}
}

// wakeIn kicks the tailer after d (instead of any wake-up scheduled before).
func (t *tailer) wakeIn(d time.Duration) {
	if t.retry != nil {
		t.retry.Stop()
	}
	t.retry = time.AfterFunc(d, t.kick)
}

// copyAll loads the tailer if needed, then copies all Docker's json-files hold.
func (t *tailer) copyAll() error {
	if err := t.load(); err != nil {
		return err
	}
	return t.drain()
}

// more tells whether Docker wrote beyond what was read, or rotated the file.
func (t *tailer) more() (bool, error) {
	st, err := statOpen(t.src)
	if err != nil {
		return false, err
	}
	if st.size > t.seen {
		return true, nil
	}
	next, err := t.rotated()
	return next, err
}

// rotated tells whether src is no longer the file at Docker's log path.
func (t *tailer) rotated() (bool, error) {
	st, err := statPath(t.c.DockerLog)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	return st.key != t.srcKey, nil
}

// drain copies the records of src to its end and, when Docker rotated it, those of
// the files that followed it, up to the end of the newest.
func (t *tailer) drain() error {
	for {
		if err := t.copyAvail(); err != nil {
			return err
		}
		rotated, err := t.rotated()
		if err != nil || !rotated {
			return err
		}
		// Docker closes a file before it renames it: src is whole now.
		if err := t.copyAvail(); err != nil {
			return err
		}
		next, nextKey, err := t.nextFile()
		if err != nil || next == nil {
			return err
		}
		if t.seen > t.off {
			klog.InfoS("Skip the incomplete last record of a rotated Docker log file", "containerID", t.c.ID, "bytes", t.seen-t.off)
		}
		t.src.Close()
		t.src, t.srcKey, t.off, t.seen, t.saved = next, nextKey, 0, 0, 0
		t.savePos()
	}
}

// copyAvail copies the complete records of src from off to its end.
func (t *tailer) copyAvail() error {
	bp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bp)
	buf := *bp
	var out []byte
	for {
		n, err := t.src.ReadAt(buf, t.off)
		if n == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			t.seen = t.off
			return nil
		}
		data := buf[:n]
		last := bytes.LastIndexByte(data, '\n')
		if last < 0 {
			if n < len(buf) {
				t.seen = t.off + int64(n) // a record Docker is writing
				return nil
			}
			if len(buf) < maxJSONLine {
				buf = make([]byte, 2*len(buf)) // a long record: not kept in the pool
				continue
			}
			if whole, err := t.skipLine(buf); err != nil || !whole {
				return err
			}
			continue
		}
		if out == nil {
			ob := readBuffers.Get().(*[]byte)
			defer readBuffers.Put(ob)
			out = (*ob)[:0]
		}
		out = t.format(out[:0], data[:last+1])
		if len(out) > 0 {
			if err := t.write(out); err != nil {
				return err
			}
		}
		t.off += int64(last + 1)
		t.seen = t.off + int64(n-last-1)
		if t.off-t.saved >= t.m.posEvery {
			t.savePos()
		}
		if n < len(buf) {
			return nil // the end of src, as it was when read
		}
	}
}

// format appends the CRI lines of the json-file lines in data (each with its newline)
// to out, leaving out the first t.skip lines (in the log already, see load).
func (t *tailer) format(out, data []byte) []byte {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data[:i]
		data = data[i+1:]
		start := len(out)
		var ok bool
		if out, ok = appendRecord(out, line, t.c.TTY); !ok {
			klog.V(2).InfoS("Skip a line of Docker's log file that is not a record", "containerID", t.c.ID, "line", string(clip(line)))
			continue
		}
		for t.skip > 0 && len(out) > start {
			j := bytes.IndexByte(out[start:], '\n')
			out = append(out[:start], out[start+j+1:]...)
			t.skip--
		}
	}
	return out
}

// skipLine skips the line at off, longer than any record (buf is full of it); whole
// is false when its end is not written yet.
func (t *tailer) skipLine(buf []byte) (whole bool, err error) {
	pos := t.off + int64(len(buf))
	for {
		n, err := t.src.ReadAt(buf, pos)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			klog.V(2).InfoS("Skip a line of Docker's log file longer than any record", "containerID", t.c.ID, "bytes", pos+int64(i)-t.off)
			t.off = pos + int64(i) + 1
			return true, nil
		}
		if n < len(buf) {
			if err != nil && !errors.Is(err, io.EOF) {
				return false, err
			}
			t.seen = pos + int64(n)
			return false, nil
		}
		pos += int64(n)
	}
}

// write appends b to the CRI log (see criFile.append), opening it first if it is not.
func (t *tailer) write(b []byte) error {
	if t.log.f == nil {
		if err := t.openLog(); err != nil {
			return &writeError{err}
		}
	}
	return t.log.append(t.m.writeFile, b)
}

// openLog opens (see openExclusive) the CRI log at its path as the one written, and
// says so in the position file before anything is written to it.
func (t *tailer) openLog() error {
	f, err := openExclusive(t.c.Path, os.O_WRONLY)
	if err != nil {
		return err
	}
	st, err := statOpen(f)
	if err != nil {
		f.Close()
		return err
	}
	t.log.replace(f, st.size)
	t.logKey = st.key
	t.savePos()
	return nil
}

// reopen makes the CRI log at its path, which the kubelet has just renamed, the one
// written: what was written before is in the renamed file, what comes after in the
// new one.
func (t *tailer) reopen() error {
	t.lock <- struct{}{}
	defer t.release()
	if t.stopped {
		return ErrStopped
	}
	if !t.loaded || t.done {
		return createLog(t.c.Path)
	}
	if t.log.f != nil {
		// A log that was not moved is the one written already: nothing to reopen (a
		// second lock on it would be refused).
		if open, err := t.log.f.Stat(); err == nil {
			if at, err := os.Stat(t.c.Path); err == nil && os.SameFile(open, at) {
				return nil
			}
		}
	}
	return t.openLog()
}

// waitCopied copies all Docker holds of the container, which has stopped, then closes
// the tailer's files: see Manager.WaitCopied.
func (t *tailer) waitCopied(ctx context.Context) error {
	if err := t.acquire(ctx); err != nil {
		return err
	}
	defer t.release()
	if t.done {
		return t.err
	}
	if err := t.copyAll(); err != nil {
		if final(err) {
			t.giveUp(err)
			return t.err
		}
		return fmt.Errorf("copy the output of container %s to its log: %w", t.c.ID, err)
	}
	t.recovered()
	t.close(true)
	return nil
}

// start makes the tailer follow its container (again, if it was done with an earlier
// run of it): watched, and woken now.
func (t *tailer) start() {
	t.lock <- struct{}{}
	if t.stopped {
		t.release()
		return
	}
	t.done, t.err = false, nil
	err := t.m.watch.watchDir(t)
	if err != nil {
		klog.ErrorS(err, "Watch Docker's directory of the container; looking at its log file every few seconds instead", "containerID", t.c.ID, "dir", t.dir)
	}
	t.unwatched = err != nil
	t.release()
	t.kick()
}

// giveUp ends the copying for good.
func (t *tailer) giveUp(err error) {
	klog.ErrorS(err, "Give up copying a container's output to its log", "containerID", t.c.ID, "path", t.c.Path)
	t.err = fmt.Errorf("copy the output of container %s to its log: %w", t.c.ID, err)
	t.close(true)
}

// close writes the position file if save, closes the files and drops the watches. The
// lock is held.
func (t *tailer) close(save bool) {
	if save {
		t.savePos()
	}
	if t.retry != nil {
		t.retry.Stop()
		t.retry = nil
	}
	if t.src != nil {
		t.src.Close()
		t.src = nil
	}
	t.log.close()
	t.loaded, t.done = false, true
	t.m.watch.unwatch(t)
}

// stop ends the tailer for good (Stop, Close), writing its position file if save.
func (t *tailer) stop(save bool) {
	t.lock <- struct{}{}
	defer t.release()
	t.close(save && t.loaded)
	t.stopped = true
}

// retryLater kicks the tailer again after a while, longer after each failure.
func (t *tailer) retryLater() {
	t.wakeIn(t.delay)
	t.delay = min(2*t.delay, t.m.retryMax)
}

func (t *tailer) report(what string, err error) { t.fails.report(t.c.ID, t.c.Path, what, err) }

func (t *tailer) recovered() {
	t.delay = t.m.retryMin
	t.fails.recovered(t.c.ID, t.c.Path)
}
