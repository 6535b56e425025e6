// Package crilog writes containers' output to their CRI log files, as containerd and
// CRI-O do, from Docker's logs API.
//
// The kubelet and node log agents read a container's log at the path the kubelet gave
// in its config: one line per record, "<RFC3339Nano timestamp> <stdout|stderr> <P|F>
// <message>", F for a full line (its newline removed), P for a partial one (a piece of
// a line longer than Docker's 16 KiB, or output a container left without a newline).
// Docker keeps the output in its own log driver (json-file or local) whatever happens
// to dockercri, so a copier per container follows Docker's logs stream, records
// stamped by Docker, into that file.
//
// Copying resumes exactly where the log ends after dockercri was killed: where is
// read from the log file itself and, for the kubelet's rotations, from a small
// position file per container in the Manager's state directory. A position is a
// Docker timestamp and how many records stamped from then on are written already
// (Docker's Since is inclusive, and the pieces of a long line share a timestamp); it
// starts a margin before the newest record, as Docker may store a record after one
// stamped a little later (see position).
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

// Manager runs the copiers of a dockercri's containers. Its methods are safe for
// concurrent use.
type Manager struct {
	docker   engine.Engine
	stateDir string

	// Tunables, fixed after NewManager (tests change them).
	margin     time.Duration // see position
	retryMin   time.Duration // first wait after a failure
	retryMax   time.Duration // longest wait between retries
	kickAfter  time.Duration // see WaitCopied
	pruneEvery time.Duration // how often stale position files are looked for
	// writeFile writes to a log file: (*os.File).Write, but in tests.
	writeFile func(f *os.File, b []byte) (int, error)

	mu       sync.Mutex
	copiers  map[string]*copier
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
	// ErrNoCopier (of Reopen): no copier writes the container's log (its log is not
	// dockercri's: a container of cri-dockerd's).
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
		writeFile:  (*os.File).Write,
		copiers:    map[string]*copier{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stopJan, m.janitorD = cancel, make(chan struct{})
	go m.janitor(ctx)
	return m
}

// Start begins copying the output of container id, which was just started (or runs
// since before dockercri started), into the CRI log at path, appending, with tty
// telling the shape of its stream. It returns at once; the copier resumes after the
// last record the log (or its position file) holds, follows the container until it
// stops, then makes sure all Docker holds is copied. Start on a container that is
// being copied does nothing.
func (m *Manager) Start(id, path string, tty bool) {
	// The file exists when StartContainer returns, as on every runtime, though the
	// copier opens it on its own: a reader may open it at once. Made before taking the
	// manager's lock, which every container's copier shares, so a slow disk holds up
	// only this call.
	if err := createLog(path); err != nil {
		klog.ErrorS(err, "Create the container's log file", "containerID", id, "path", path)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if c := m.copiers[id]; c != nil {
		select {
		case <-c.done:
			// Done with an earlier run of the container: a new copier takes over.
			<-c.exited
		default:
			// Copying: make sure it follows again before it calls itself done.
			c.rearm = true
			return
		}
	}
	m.startLocked(id, path, tty, true)
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
// loses nothing.
func (m *Manager) Reopen(id string) error {
	m.mu.Lock()
	c := m.copiers[id]
	m.mu.Unlock()
	if c == nil {
		return fmt.Errorf("container %s: %w", id, ErrNoCopier)
	}
	return c.reopen()
}

// WaitCopied returns once all the output Docker holds of container id, which has
// stopped, is in its log at path: at once when its copier is done, else when it is
// (it follows Docker's stream to its end, then copies what may remain). When no
// copier runs for id (dockercri restarted since the container stopped), it copies
// what is missing once, without following. It gives up with ctx's error; with the
// error that ended the copying for good (the container is gone, its log driver
// cannot be read back); or with the failure the copier keeps retrying after (the
// disk is full, Docker does not answer), rather than wait for it to recover.
func (m *Manager) WaitCopied(ctx context.Context, id, path string, tty bool) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	c := m.copiers[id]
	if c == nil {
		c = m.startLocked(id, path, tty, false)
	}
	m.mu.Unlock()

	t := time.NewTimer(m.kickAfter)
	defer t.Stop()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		// Still following a container that stopped: Docker's stream should have
		// ended. Make the copier look again rather than trust it to, and retry now
		// what failed.
		c.kick()
	}
	for {
		t.Reset(m.kickAfter)
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := c.lastFailure(); err != nil {
				return fmt.Errorf("copy the output of container %s to its log: %w", id, err)
			}
		}
	}
}

// Stop ends the copying of container id (it is being removed) and writes its
// position file. What was not copied yet stays in Docker, and Start or WaitCopied
// picks it up again.
func (m *Manager) Stop(id string) {
	m.mu.Lock()
	c := m.copiers[id]
	delete(m.copiers, id)
	m.mu.Unlock()
	if c != nil {
		c.cancel()
		<-c.exited
		c.shutdown(true)
	}
}

// Close ends all copiers, writing their position files, and the Manager.
func (m *Manager) Close() {
	m.end(true)
}

// abort ends all copiers the way a crash would: without writing position files.
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
	cs := m.copiers
	m.copiers = map[string]*copier{}
	m.mu.Unlock()
	m.stopJan()
	<-m.janitorD
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

// prune removes the position files, older than age, of containers without a copier
// that Docker does not know.
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
		if strings.Contains(name, posSuffix+".tmp") {
			os.Remove(path)
			continue
		}
		esc, ok := strings.CutSuffix(name, posSuffix)
		id, err := url.PathUnescape(esc)
		if !ok || err != nil {
			continue
		}
		m.mu.Lock()
		_, active := m.copiers[id]
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
