package crilog

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// watcher is the one inotify instance of a Manager: it wakes the tailer of a container
// when Docker writes to its json-file or rotates it. Each followed container has two
// watches:
//
//   - its Docker directory, for the new file Docker creates when it rotates the log
//     (IN_CREATE), and for the directory going away with the container (IN_IGNORED);
//   - its json-file, for a write (IN_MODIFY), but armed only while the tailer is idle
//     and once (IN_ONESHOT): a container printing at full speed writes a record per
//     system call, and a standing watch would wake dockercri for each. So while a
//     tailer copies, Docker's writes cost neither side an event.
type watcher struct {
	f *os.File // the inotify descriptor, non-blocking so that reads go through Go's poller

	mu     sync.Mutex
	wds    map[int32]watchOf
	closed bool
	all    func() []*tailer // every tailer, to wake them all when events were lost
	done   chan struct{}
}

// watchOf is what a watch descriptor stands for.
type watchOf struct {
	t   *tailer
	dir bool
}

const (
	dirEvents  = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_ONLYDIR
	fileEvents = unix.IN_MODIFY | unix.IN_ONESHOT
	// eventBuffer holds the events of one read: enough for dozens at a time.
	eventBuffer = 16 << 10
)

// newWatcher starts the Manager's inotify watcher; all lists the tailers to wake when
// the kernel's queue overflowed.
func newWatcher(all func() []*tailer) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), wds: map[int32]watchOf{}, all: all, done: make(chan struct{})}
	go w.run()
	return w, nil
}

// watchDir watches t's Docker directory, for good (until unwatch).
func (w *watcher) watchDir(t *tailer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t.dirWD >= 0 {
		return nil
	}
	wd, err := w.addLocked(t, t.dir, dirEvents, true)
	if err != nil {
		return err
	}
	t.dirWD = wd
	return nil
}

// arm watches t's json-file for its next write, once.
func (w *watcher) arm(t *tailer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, err := w.addLocked(t, t.c.DockerLog, fileEvents, false)
	if err != nil {
		return err
	}
	if t.fileWD >= 0 && t.fileWD != wd {
		// Armed on the file before a rotation, and not fired: that file is done with.
		w.rmLocked(t.fileWD)
	}
	t.fileWD = wd
	return nil
}

// unwatch drops t's watches.
func (w *watcher) unwatch(t *tailer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rmLocked(t.dirWD)
	w.rmLocked(t.fileWD)
	t.dirWD, t.fileWD = -1, -1
}

func (w *watcher) addLocked(t *tailer, path string, mask uint32, dir bool) (int32, error) {
	if w.closed {
		return -1, os.ErrClosed
	}
	rc, err := w.f.SyscallConn()
	if err != nil {
		return -1, err
	}
	wd := -1
	var werr error
	if err := rc.Control(func(fd uintptr) { wd, werr = unix.InotifyAddWatch(int(fd), path, mask) }); err != nil {
		return -1, err
	}
	if werr != nil {
		return -1, &os.PathError{Op: "inotify_add_watch", Path: path, Err: werr}
	}
	// Registered before any event of it is read: the event loop looks it up under mu.
	w.wds[int32(wd)] = watchOf{t: t, dir: dir}
	return int32(wd), nil
}

// rmLocked drops watch wd, which may be gone already (an IN_ONESHOT watch that fired).
func (w *watcher) rmLocked(wd int32) {
	if wd < 0 {
		return
	}
	if _, ok := w.wds[wd]; !ok {
		return
	}
	delete(w.wds, wd)
	if w.closed {
		return
	}
	if rc, err := w.f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _, _ = unix.InotifyRmWatch(int(fd), uint32(wd)) })
	}
}

// close ends the watcher and its goroutine.
func (w *watcher) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	w.f.Close()
	<-w.done
}

func (w *watcher) run() {
	defer close(w.done)
	buf := make([]byte, eventBuffer)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				klog.ErrorS(err, "Read inotify events; containers' logs are copied only when asked for from now on")
			}
			return
		}
		w.dispatch(buf[:n])
	}
}

// dispatch wakes the tailers the events in b are about.
func (w *watcher) dispatch(b []byte) {
	var kick []*tailer
	overflow := false
	w.mu.Lock()
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			break
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[end:]
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			overflow = true
			continue
		}
		wo, ok := w.wds[ev.Wd]
		if !ok {
			continue
		}
		switch {
		case ev.Mask&unix.IN_IGNORED != 0:
			// The watch is gone: it fired once, or its directory was removed with the
			// container (the tailer then copies what it holds open and ends).
			delete(w.wds, ev.Wd)
			if wo.dir && wo.t.dirWD == ev.Wd {
				wo.t.dirWD = -1
				wo.t.dirGone.Store(true)
				kick = append(kick, wo.t)
			} else if !wo.dir && wo.t.fileWD == ev.Wd {
				wo.t.fileWD = -1
			}
		case wo.dir:
			if string(name) == wo.t.base {
				kick = append(kick, wo.t)
			}
		default:
			kick = append(kick, wo.t)
		}
	}
	w.mu.Unlock()
	if overflow {
		klog.V(2).InfoS("The inotify queue overflowed: looking at every container's log")
		kick = w.all()
	}
	for _, t := range kick {
		t.kick()
	}
}
