// Package crilog writes containers' output to their CRI log files, as containerd and
// CRI-O do, from the log Docker keeps of it.
//
// The kubelet and node log agents read a container's log at the path the kubelet gave
// in its config: one line per record, "<RFC3339Nano timestamp> <stdout|stderr> <P|F>
// <message>", F for a full line (its newline removed), P for a partial one (a piece of
// a line longer than Docker's 16 KiB, or output a container left without a newline).
// Docker keeps the output in its log driver whatever happens to dockercri.
//
// A container whose driver is json-file (dockercri asks for it, see
// core/container_create.go) is copied from that file on disk (tailer): one inotify
// watcher for all containers wakes a container's tailer when Docker appends to its
// file, and it copies what was appended, following Docker's rotation of the file. No
// connection to Docker, no goroutine and no buffer are held for a quiet container.
// Where it stands is an offset in Docker's file, kept in a position file per container
// in the Manager's state directory, and recovered exactly after a crash (see
// tailer.load).
//
// Any other container (another log driver; Docker on another host; a container
// dockercri began to copy before it read Docker's files) is followed through Docker's
// logs API instead (copier), resuming where the CRI log ends by Docker's timestamps
// (see position).
package crilog

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/engine"
)

// Container names a container whose output is copied: its id, its CRI log, whether
// it has a TTY, and Docker's json-file of it ("" for another log driver).
type Container struct {
	ID        string
	Path      string
	TTY       bool
	DockerLog string
}

// Manager runs the tailers and copiers of a dockercri's containers. Its methods are
// safe for concurrent use.
type Manager struct {
	docker   engine.Engine
	stateDir string
	watch    *watcher // nil when inotify is not available: every container is copied through the logs API

	// Tunables, fixed after NewManager (tests change them).
	margin     time.Duration // see position
	retryMin   time.Duration // first wait after a failure
	retryMax   time.Duration // longest wait between retries
	kickAfter  time.Duration // see WaitCopied
	pruneEvery time.Duration // how often stale position files are looked for
	gather     time.Duration // how long a woken tailer lets Docker write before it copies
	// posEvery is how much of Docker's json-file a tailer copies between two writes of
	// its position file, at most: after a crash, what it copied since is read again
	// (and recognised in the CRI log, not written twice). It also writes one when it
	// moves to the next file of Docker's rotation.
	posEvery int64
	// writeFile writes to a log file: (*os.File).Write, but in tests.
	writeFile func(f *os.File, b []byte) (int, error)

	mu       sync.Mutex
	copiers  map[string]*copier
	tailers  map[string]*tailer
	links    map[string]error // containers whose log path is a symlink: why nothing copies them (see linked)
	closed   bool
	stopJan  context.CancelFunc
	janitorD chan struct{}
}

// Errors of WaitCopied.
var (
	// ErrClosed: the Manager is closed.
	ErrClosed = errors.New("crilog: manager closed")
	// ErrStopped: the copier was stopped (Stop or Close) before it was done.
	ErrStopped = errors.New("crilog: copier stopped")
	// ErrNoCopier (of Reopen): no copier writes the container's log (dockercri has not
	// begun to copy it since it started).
	ErrNoCopier = errors.New("crilog: no log copier")
)

// NewManager returns a Manager copying through docker, keeping its position files in
// stateDir (created when first needed). Close it when done.
func NewManager(docker engine.Engine, stateDir string) *Manager {
	m := &Manager{
		docker:     docker,
		stateDir:   stateDir,
		margin:     time.Second,
		retryMin:   200 * time.Millisecond,
		retryMax:   10 * time.Second,
		kickAfter:  2 * time.Second,
		pruneEvery: 10 * time.Minute,
		gather:     5 * time.Millisecond,
		posEvery:   16 << 20,
		writeFile:  (*os.File).Write,
		copiers:    map[string]*copier{},
		tailers:    map[string]*tailer{},
		links:      map[string]error{},
	}
	w, err := newWatcher(m.allTailers)
	if err != nil {
		klog.ErrorS(err, "Cannot watch Docker's log files; every container's output is copied through Docker's logs API")
	} else {
		m.watch = w
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stopJan, m.janitorD = cancel, make(chan struct{})
	go m.janitor(ctx)
	return m
}

// Start begins copying the output of container c, which was just started (or runs
// since before dockercri started), into its CRI log, appending. It returns at once;
// the copying resumes after the last record the log (or its position file) holds,
// follows the container until it stops, and WaitCopied makes sure all Docker holds is
// copied. Start on a container that is being copied does nothing, and so does Start
// on one whose log path is a symlink (see linked).
func (m *Manager) Start(c Container) {
	if m.linked(c) != nil {
		return
	}
	// The file exists when StartContainer returns, as on every runtime, though the
	// copying opens it on its own: a reader may open it at once. Made before taking the
	// manager's lock, which every container shares, so a slow disk holds up only this
	// call.
	if err := createLog(c.Path); err != nil {
		klog.ErrorS(err, "Create the container's log file", "containerID", c.ID, "path", c.Path)
	}
	tails := m.tails(c)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	t := m.tailers[c.ID]
	if t == nil && m.copiers[c.ID] == nil && tails {
		t = m.newTailerLocked(c)
	}
	if t != nil {
		m.mu.Unlock()
		// Outside the manager's lock: t's may be held by a write to a slow disk.
		t.start()
		return
	}
	defer m.mu.Unlock()
	if cp := m.copiers[c.ID]; cp != nil {
		select {
		case <-cp.done:
			// Done with an earlier run of the container: a new copier takes over.
			<-cp.exited
		default:
			// Copying: make sure it follows again before it calls itself done.
			cp.rearm = true
			return
		}
	}
	m.startLocked(c.ID, c.Path, c.TTY, true)
}

// tails tells whether c is copied from Docker's json-file (else through the logs API):
// it must be on this host, and c not copied through the logs API before (by a
// dockercri that did not read Docker's files), which its position file, or a CRI log
// without the tailer's, would tell.
func (m *Manager) tails(c Container) bool {
	if m.watch == nil || c.DockerLog == "" {
		return false
	}
	// Docker's directory of the container, not the file: a container printing fast has
	// Docker rotate its file every few milliseconds, and between the rename and the
	// creation of the next there is none.
	if _, err := os.Stat(filepath.Dir(c.DockerLog)); err != nil {
		klog.V(2).InfoS("Docker's log file is not on this host: copying through Docker's logs API", "containerID", c.ID, "dockerLog", c.DockerLog)
		return false
	}
	if _, err := os.Stat(tailPath(m.stateDir, c.ID)); err == nil {
		return true
	}
	if _, err := os.Stat(posPath(m.stateDir, c.ID)); err == nil {
		return false
	}
	st, err := os.Lstat(c.Path)
	return err != nil || st.Size() == 0
}

func (m *Manager) newTailerLocked(c Container) *tailer {
	t := newTailer(m, c)
	m.tailers[c.ID] = t
	return t
}

// allTailers lists the tailers, for the watcher.
func (m *Manager) allTailers() []*tailer {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := make([]*tailer, 0, len(m.tailers))
	for _, t := range m.tailers {
		ts = append(ts, t)
	}
	return ts
}

func (m *Manager) startLocked(id, path string, tty, follow bool) *copier {
	ctx, cancel := context.WithCancel(context.Background())
	c := &copier{
		m: m, id: id, path: path, tty: tty, follow: follow,
		ctx: ctx, cancel: cancel,
		done: make(chan struct{}), exited: make(chan struct{}), kickc: make(chan struct{}, 1),
	}
	m.copiers[id] = c
	go c.run()
	return c
}

// Reopen closes the log file of container id and opens path again, creating it: the
// kubelet renamed the file to rotate it (ReopenContainerLog). Records written before
// are in the old file, those after in the new one, none in both. It also writes the
// container's position file, so that a crash before anything reaches the new file
// loses nothing. A container whose log is Docker's json-file (ErrDockerLog) is not
// reopened: Docker rotates its file, and the kubelet, told so, renames its link back.
func (m *Manager) Reopen(id string) error {
	m.mu.Lock()
	c, t, linked := m.copiers[id], m.tailers[id], m.links[id]
	m.mu.Unlock()
	if linked != nil {
		return linked
	}
	if t != nil {
		return t.reopen()
	}
	if c == nil {
		return fmt.Errorf("container %s: %w", id, ErrNoCopier)
	}
	return c.reopen()
}

// WaitCopied returns once all the output Docker holds of container c, which has
// stopped, is in its log: Docker has closed its log by the time it reports the
// container stopped. From Docker's json-file, it copies what is left there and then,
// and closes the files. Through the logs API, it returns once the copier is done (it
// follows Docker's stream to its end, then copies what may remain). When nothing
// copies c (dockercri restarted since it stopped), it copies what is missing once. It
// gives up with ctx's error; with the error that ended the copying for good (the
// container is gone, its log driver cannot be read back); or with the failure the
// copying is retried after (the disk is full, Docker does not answer), rather than
// wait for it to recover. A container whose log is Docker's json-file has it all
// there: nil at once; one whose log path is another symlink, ErrSymlink.
func (m *Manager) WaitCopied(ctx context.Context, ct Container) error {
	if err := m.linked(ct); err != nil {
		if errors.Is(err, ErrDockerLog) {
			return nil
		}
		return err
	}
	tails := m.tails(ct)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	tl := m.tailers[ct.ID]
	c := m.copiers[ct.ID]
	if tl == nil && c == nil {
		if tails {
			tl = m.newTailerLocked(ct)
		} else {
			c = m.startLocked(ct.ID, ct.Path, ct.TTY, false)
		}
	}
	m.mu.Unlock()
	if tl != nil {
		return tl.waitCopied(ctx)
	}

	t := time.NewTimer(m.kickAfter)
	defer t.Stop()
	for kicked := false; ; kicked = true {
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if !kicked {
			// Still following a container that stopped: Docker's stream should have
			// ended. Make the copier look again rather than trust it to, and retry now
			// what failed.
			c.kick()
		} else if err := c.lastFailure(); err != nil {
			return fmt.Errorf("copy the output of container %s to its log: %w", ct.ID, err)
		}
		t.Reset(m.kickAfter)
	}
}

// Stop ends the copying of container id (it is being removed) and writes its
// position file. What was not copied yet stays in Docker, and Start or WaitCopied
// picks it up again.
func (m *Manager) Stop(id string) {
	m.mu.Lock()
	c, t := m.copiers[id], m.tailers[id]
	delete(m.copiers, id)
	delete(m.tailers, id)
	delete(m.links, id)
	m.mu.Unlock()
	if t != nil {
		t.stop(true)
	}
	if c != nil {
		c.cancel()
		<-c.exited
		c.shutdown(true)
	}
}

// Close ends all tailers and copiers, writing their position files, and the Manager.
func (m *Manager) Close() {
	m.end(true)
}

// abort ends all tailers and copiers the way a crash would: without writing position
// files.
func (m *Manager) abort() {
	m.end(false)
}

func (m *Manager) end(save bool) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	cs, ts := m.copiers, m.tailers
	m.copiers, m.tailers = map[string]*copier{}, map[string]*tailer{}
	m.mu.Unlock()
	m.stopJan()
	<-m.janitorD
	for _, t := range ts {
		t.stop(save)
	}
	if m.watch != nil {
		m.watch.close()
	}
	for _, c := range cs {
		c.cancel()
	}
	for _, c := range cs {
		<-c.exited
		c.shutdown(save)
	}
}

func (m *Manager) posPath(id string) string {
	return posPath(m.stateDir, id)
}

// janitor removes, now and then, the position files of containers Docker no longer
// has (Stop writes one as its container is removed), and temporary files a crash left.
func (m *Manager) janitor(ctx context.Context) {
	defer close(m.janitorD)
	t := time.NewTimer(min(time.Minute, m.pruneEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.prune(ctx, time.Minute)
		t.Reset(m.pruneEvery)
	}
}

// prune removes the position files, older than age, of containers without a tailer or
// copier that Docker does not know.
func (m *Manager) prune(ctx context.Context, age time.Duration) {
	entries, err := os.ReadDir(m.stateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < age || !info.Mode().IsRegular() {
			continue
		}
		path := filepath.Join(m.stateDir, name)
		if strings.Contains(name, posSuffix+".tmp") || strings.Contains(name, tailSuffix+".tmp") {
			os.Remove(path)
			continue
		}
		esc, ok := strings.CutSuffix(name, posSuffix)
		if !ok {
			esc, ok = strings.CutSuffix(name, tailSuffix)
		}
		id, err := url.PathUnescape(esc)
		if !ok || err != nil {
			continue
		}
		m.mu.Lock()
		_, active := m.copiers[id]
		_, tailed := m.tailers[id]
		active = active || tailed
		m.mu.Unlock()
		if active {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = m.docker.ContainerInspect(ictx, id)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if cerrdefs.IsNotFound(err) {
			if err := os.Remove(path); err == nil {
				klog.V(4).InfoS("Removed the log position file of a removed container", "containerID", id)
			}
		}
	}
}
