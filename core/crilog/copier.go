package crilog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"k8s.io/klog/v2"
)

const (
	// maxBatch is how much a copier formats before it writes, at most: it writes
	// whenever it has read all Docker sent so far.
	maxBatch = 256 << 10
	// logFileMode is the mode of a log file the copier creates, containerd's.
	logFileMode = 0o640
	// streamBuffer is the read buffer of a followed stream: one per running container,
	// held while it is quiet, and dockerd sends a write per record anyway.
	streamBuffer = 8 << 10
	// inspectTimeout bounds a copier's ContainerInspect.
	inspectTimeout = 30 * time.Second
)

// errKicked: the stream followed was cut to look at the container again (WaitCopied).
var errKicked = errors.New("stream cut to look at the container again")

// writeError is a failure to write the log file.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write container log: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// copier copies one container's records from Docker's logs stream into its log file.
// Its goroutine (run) does the copying; Reopen, Stop and Close reach the file through
// mu, which a write holds too, so that a record is in one file only.
type copier struct {
	m    *Manager
	id   string
	path string
	tty  bool
	// follow: the goroutine starts by following the stream (Start), not by copying
	// what Docker holds once (WaitCopied).
	follow bool

	ctx    context.Context
	cancel context.CancelFunc
	// done is closed once the container's output is all copied (err nil) or the
	// copier gave up (err set before).
	done     chan struct{}
	doneOnce sync.Once
	err      error
	exited   chan struct{} // closed when the goroutine returned
	kickc    chan struct{}
	// rearm (guarded by m.mu): Start was called while copying; follow again before
	// calling it done.
	rearm bool

	streamMu     sync.Mutex
	streamCancel context.CancelFunc // cuts the stream being followed

	fails failures

	mu     sync.Mutex
	log    criFile
	loaded bool // pos is known
	closed bool // Stop or Close: no more writes
	pos    position
}

func (c *copier) run() {
	defer close(c.exited)
	follow := c.follow
	delay := c.m.retryMin
	backoff := func() bool {
		ok := c.sleep(delay)
		delay = min(2*delay, c.m.retryMax)
		return ok
	}
	for {
		err := c.load()
		if err == nil {
			var progressed bool
			progressed, err = c.copyOnce(follow)
			if progressed {
				delay = c.m.retryMin
			}
			if err == nil || progressed {
				c.recovered()
			}
		}
		if c.ctx.Err() != nil {
			c.finish(ErrStopped)
			return
		}
		switch {
		case err == nil && !follow:
			// All Docker held is copied.
			if c.complete() {
				return
			}
			follow = true // Start came meanwhile
		case err == nil || errors.Is(err, errKicked):
			// The stream followed ended: the container stopped, or dockerd did.
			running, err := c.running()
			switch {
			case cerrdefs.IsNotFound(err):
				c.giveUp(err)
				return
			case err != nil:
				c.report("inspect the container", err)
				if !backoff() {
					c.finish(ErrStopped)
					return
				}
			case !running:
				// Copy what may remain, without following.
				follow = false
			default:
				if !backoff() {
					c.finish(ErrStopped)
					return
				}
			}
		case permanent(err):
			c.giveUp(err)
			return
		default:
			var we *writeError
			if errors.As(err, &we) {
				c.report("write the container's log", err)
			} else {
				c.report("read the container's output from Docker", err)
			}
			if !backoff() {
				c.finish(ErrStopped)
				return
			}
		}
	}
}

// permanent tells whether err means the container's output cannot be copied at all:
// also a symlink put at its log path since it was started.
func permanent(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsNotImplemented(err) || cerrdefs.IsInvalidArgument(err) || errors.Is(err, ErrSymlink)
}

// copyOnce copies the records of one logs stream: followed, or what Docker holds.
// progressed tells whether it wrote to the log.
func (c *copier) copyOnce(follow bool) (progressed bool, err error) {
	sctx, scancel := context.WithCancel(c.ctx)
	defer scancel()
	if follow {
		c.setStreamCancel(scancel)
		defer c.setStreamCancel(nil)
	}
	c.mu.Lock()
	since, skip := c.pos.resume(c.m.margin)
	c.mu.Unlock()

	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow}
	if !since.IsZero() {
		opts.Since = dockerSince(since)
	}
	rc, err := c.m.docker.ContainerLogs(sctx, c.id, opts)
	if err != nil {
		return false, err
	}
	stop := context.AfterFunc(sctx, func() { rc.Close() })
	defer func() {
		stop()
		rc.Close()
	}()

	br := bufio.NewReaderSize(rc, streamBuffer)
	dec := newDecoder(br, c.tty)
	var b batch
	flush := func() error {
		if len(b.buf) == 0 {
			return nil
		}
		if err := c.write(&b); err != nil {
			return err
		}
		progressed = true
		return nil
	}
	for {
		if br.Buffered() == 0 {
			// All Docker sent is read: write it before waiting for more.
			if err := flush(); err != nil {
				return progressed, err
			}
		}
		rec, err := dec.next()
		if err != nil {
			if isBadRecord(err) {
				klog.V(2).InfoS("Skip a record of a container's logs stream", "containerID", c.id, "reason", err.Error())
				continue
			}
			// The records read whole are good to write.
			if ferr := flush(); ferr != nil {
				return progressed, ferr
			}
			switch {
			case errors.Is(err, io.EOF):
				return progressed, nil
			case c.ctx.Err() != nil:
				return progressed, c.ctx.Err()
			case sctx.Err() != nil:
				return progressed, errKicked
			}
			return progressed, err
		}
		if rec.ts.Before(since) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		b.add(rec)
		if len(b.buf) >= maxBatch {
			if err := flush(); err != nil {
				return progressed, err
			}
		}
	}
}

// dockerSince is the Since of the logs API that fetches the records from t on.
// Docker's Since is inclusive (Docker 20.10 keeps a record unless it is stamped
// before Since); asking from a nanosecond earlier is also right if it were not, the
// copier dropping the records stamped before t itself.
func dockerSince(t time.Time) string {
	t = t.Add(-time.Nanosecond)
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// batch is formatted log lines not written yet, and their records' timestamps.
type batch struct {
	buf []byte
	ts  []time.Time
}

func (b *batch) add(rec record) {
	b.buf = appendCRI(b.buf, rec)
	b.ts = append(b.ts, rec.ts)
}

// write appends b to the log file in one write, then counts its records in the
// position. A failed write is undone (the file truncated back), so that the records
// are written again, whole, when Docker sends them again.
func (c *copier) write(b *batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStopped
	}
	if c.log.f == nil {
		if err := c.openLocked(); err != nil {
			return &writeError{err}
		}
	}
	if err := c.log.append(c.m.writeFile, b.buf); err != nil {
		return err
	}
	for _, t := range b.ts {
		c.pos.add(t)
	}
	c.pos.prune(c.m.margin)
	b.buf, b.ts = b.buf[:0], b.ts[:0]
	return nil
}

// load opens the log file and works out the position, once.
func (c *copier) load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded {
		return nil
	}
	pf, err := readPosFile(c.m.posPath(c.id))
	if err != nil {
		klog.ErrorS(err, "Ignore a container's log position file", "containerID", c.id)
		pf = nil
	}
	f, err := openExclusive(c.path, os.O_RDWR)
	if err != nil {
		return &writeError{err}
	}
	pos, end, err := loadPosition(f, c.path, pf, c.m.margin)
	if err != nil {
		f.Close()
		return &writeError{fmt.Errorf("read %s: %w", c.path, err)}
	}
	if st, err := f.Stat(); err == nil && st.Size() > end {
		// A line torn by a crash: its record is copied again, whole.
		if err := f.Truncate(end); err != nil {
			f.Close()
			return &writeError{err}
		}
	}
	c.log.replace(f, end)
	c.pos, c.loaded = pos, true
	since, skip := pos.resume(c.m.margin)
	klog.V(4).InfoS("Copying container output to its log", "containerID", c.id, "path", c.path, "since", since, "skip", skip)
	c.savePosLocked()
	return nil
}

// openLocked opens (see openExclusive) the log file at path as the one written.
func (c *copier) openLocked() error {
	f, err := openExclusive(c.path, os.O_WRONLY)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	c.log.replace(f, st.Size())
	return nil
}

// createLog makes sure the log file at path exists (see openNoFollow), writing nothing.
func createLog(path string) error {
	f, err := openNoFollow(path, os.O_WRONLY)
	if err != nil {
		return err
	}
	return f.Close()
}

// openNoFollow opens the log file at path for appending, creating it, but not through a
// symlink (ErrSymlink): the kubelet's log directory holds cri-dockerd's links to
// Docker's own files, which a CRI line would break, and anything another process put
// there could take dockercri's writes, as root, anywhere.
func openNoFollow(path string, mode int) (*os.File, error) {
	f, err := os.OpenFile(path, mode|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, logFileMode)
	if errors.Is(err, syscall.ELOOP) {
		if st, lerr := os.Lstat(path); lerr == nil && st.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("open %s: %w", path, ErrSymlink)
		}
	}
	return f, err
}

// openExclusive opens the log file at path (see openNoFollow) and takes an exclusive
// lock on it: one writer per file, even when a second dockercri (an old one still
// shutting down, or another on the same Docker) copies the same container. The lock
// goes with the file's descriptor, so a crash releases it.
func openExclusive(path string, mode int) (*os.File, error) {
	f, err := openNoFollow(path, mode)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is being written by another process", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

func (c *copier) reopen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStopped
	}
	if !c.loaded {
		// load opens the file at path.
		return createLog(c.path)
	}
	if c.log.f != nil {
		// A log that was not moved is the one written already: nothing to reopen (a
		// second lock on it would be refused).
		if open, err := c.log.f.Stat(); err == nil {
			if at, err := os.Stat(c.path); err == nil && os.SameFile(open, at) {
				return nil
			}
		}
	}
	if err := c.openLocked(); err != nil {
		return err
	}
	c.savePosLocked()
	return nil
}

// savePosLocked writes the position file: the position, and the log file and size
// it covers.
func (c *copier) savePosLocked() {
	if !c.loaded {
		return
	}
	since, skip := c.pos.resume(c.m.margin)
	pf := posFile{Path: c.path, Since: since, Count: skip, Max: c.pos.max, Size: c.log.size}
	if c.log.f != nil {
		if st, err := c.log.f.Stat(); err == nil {
			pf.Dev, pf.Ino = fileID(st)
		}
	}
	data, err := json.Marshal(pf)
	if err == nil {
		err = writeFileAtomic(c.m.posPath(c.id), data)
	}
	if err != nil {
		klog.ErrorS(err, "Write a container's log position file", "containerID", c.id)
	}
}

// saveAndClose writes the position file and closes the log file, which a later run
// opens again.
func (c *copier) saveAndClose() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.savePosLocked()
	c.log.close()
}

// complete ends the copying once all is copied, unless Start came meanwhile.
func (c *copier) complete() bool {
	c.saveAndClose()

	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.rearm {
		c.rearm = false
		return false
	}
	c.finish(nil)
	return true
}

// giveUp ends the copying for good: the container's output cannot be copied.
func (c *copier) giveUp(err error) {
	klog.ErrorS(err, "Give up copying a container's output to its log", "containerID", c.id, "path", c.path)
	c.saveAndClose()
	c.finish(fmt.Errorf("copy the output of container %s to its log: %w", c.id, err))
}

func (c *copier) finish(err error) {
	c.doneOnce.Do(func() {
		c.err = err
		close(c.done)
	})
}

// shutdown closes the log file for good (the goroutine has returned), first writing
// the position file if save.
func (c *copier) shutdown(save bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if save {
		c.savePosLocked()
	}
	c.log.close()
	c.closed = true
}

// running tells whether the container runs (then its output is followed).
func (c *copier) running() (bool, error) {
	ctx, cancel := context.WithTimeout(c.ctx, inspectTimeout)
	defer cancel()
	insp, err := c.m.docker.ContainerInspect(ctx, c.id)
	if err != nil {
		return false, err
	}
	return insp.State != nil && (insp.State.Running || insp.State.Restarting), nil
}

// kick makes the copier look at the container again now: it cuts the stream it
// follows, and ends the wait before a retry.
func (c *copier) kick() {
	select {
	case c.kickc <- struct{}{}:
	default:
	}
	c.streamMu.Lock()
	if c.streamCancel != nil {
		c.streamCancel()
	}
	c.streamMu.Unlock()
}

func (c *copier) setStreamCancel(f context.CancelFunc) {
	c.streamMu.Lock()
	c.streamCancel = f
	c.streamMu.Unlock()
}

// sleep waits d, or less if kicked; false if the copier is stopped.
func (c *copier) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.ctx.Done():
		return false
	case <-c.kickc:
	case <-t.C:
	}
	return true
}

func (c *copier) report(what string, err error) { c.fails.report(c.id, c.path, what, err) }

func (c *copier) recovered() { c.fails.recovered(c.id, c.path) }

// lastFailure is the failure the copier retries after, nil if none.
func (c *copier) lastFailure() error { return c.fails.lastFailure() }
