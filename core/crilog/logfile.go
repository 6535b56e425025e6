package crilog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/metrics"
)

// criFile is a CRI log being written: the file, its size as far as complete lines go,
// and whether a failed write may have left a torn line after that.
type criFile struct {
	f     *os.File // nil when closed
	size  int64
	dirty bool
}

// append writes b to the log in one write with write ((*os.File).Write but in tests).
// A failed write is undone (the file truncated back), so that its records are written
// again, whole.
func (l *criFile) append(write func(*os.File, []byte) (int, error), b []byte) error {
	if l.dirty {
		if err := l.f.Truncate(l.size); err != nil {
			return &writeError{err}
		}
		l.dirty = false
	}
	n, err := write(l.f, b)
	if err != nil {
		if n > 0 && l.f.Truncate(l.size) != nil {
			l.dirty = true
		}
		return &writeError{err}
	}
	l.size += int64(n)
	metrics.LogBytes.Add(float64(n))
	return nil
}

// replace makes f, of size bytes, the log written, closing the one before.
func (l *criFile) replace(f *os.File, size int64) {
	l.close()
	l.f, l.size, l.dirty = f, size, false
}

func (l *criFile) close() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// failures is what a container's copying retries after: logged once as an error until
// it recovers, and told to WaitCopied.
type failures struct {
	// failing is what failed last ("" when all is well). Only the copying uses it.
	failing string
	mu      sync.Mutex
	last    error // the last failure, nil once recovered
}

// report logs a failure to do what, once as an error until the copying recovers.
func (fs *failures) report(id, path, what string, err error) {
	if fs.failing != what {
		klog.ErrorS(err, "Cannot "+what+"; retrying", "containerID", id, "path", path)
	} else {
		klog.V(4).InfoS("Cannot "+what+"; retrying", "containerID", id, "path", path, "err", err)
	}
	fs.failing = what
	fs.mu.Lock()
	fs.last = fmt.Errorf("cannot %s: %w", what, err)
	fs.mu.Unlock()
}

// recovered says so after failures.
func (fs *failures) recovered(id, path string) {
	if fs.failing != "" {
		klog.InfoS("Copying a container's output to its log again", "containerID", id, "path", path)
		fs.failing = ""
		fs.mu.Lock()
		fs.last = nil
		fs.mu.Unlock()
	}
}

// lastFailure is the failure retried after, nil if none.
func (fs *failures) lastFailure() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.last
}

// readJSON reads the JSON file at path into a T: nil when there is no file.
func readJSON[T any](path string) (*T, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("position file %s: %w", path, err)
	}
	return &v, nil
}
