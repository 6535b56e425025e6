package stats

import (
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// openFiles keeps the cgroup files of one container (or pod) open between stats calls,
// each read again with pread at offset 0: the kernel generates a cgroup file's content
// anew at each read from the start, and the open and close that readFile pays per file
// were three quarters of what a stats list spent. The files are closed when the
// container ends (Collector.Forget), when they stop being asked about (pruneLocked), and
// one by one when a read fails (the cgroup was removed: ENODEV), to be opened again at
// the next read.
type openFiles struct {
	budget *fdBudget
	mu     sync.Mutex
	files  map[string]*keptFile
	closed bool // forgotten: reads open and close their files as readFile does
}

// keptFile is an open file with its raw connection: reads through it are counted by
// the *os.File, so that a close from Forget while a read is under way neither fails it
// badly nor lets the read reach another file that reused the descriptor.
type keptFile struct {
	f  *os.File
	rc syscall.RawConn
}

// fdBudget bounds the files kept open by all of a collector's containers: a node with
// many containers, or a low RLIMIT_NOFILE, falls back to opening each file per read
// rather than run dockercri out of descriptors.
type fdBudget struct {
	limit int64
	used  atomic.Int64
}

func (b *fdBudget) take() bool {
	if b.used.Add(1) > b.limit {
		b.used.Add(-1)
		return false
	}
	return true
}

func (b *fdBudget) give() { b.used.Add(-1) }

// fdBudgetFor is the budget under a soft RLIMIT_NOFILE of nofile: a quarter of it
// (the rest for connections, logs, CNI and streams), at most 1<<16 files.
func fdBudgetFor(nofile uint64) int64 {
	return int64(min(nofile/4, 1<<16))
}

// newFDBudget reads dockercri's RLIMIT_NOFILE (Go raises the soft limit to the hard one
// at start-up; the systemd unit sets LimitNOFILE).
func newFDBudget() *fdBudget {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return &fdBudget{limit: fdBudgetFor(1024)}
	}
	return &fdBudget{limit: fdBudgetFor(rl.Cur)}
}

func newOpenFiles(budget *fdBudget) *openFiles {
	return &openFiles{budget: budget, files: map[string]*keptFile{}}
}

// read reads the cgroup file at path: through its kept file, opened on first use; with
// readFile when there is none (nil of, forgotten, over budget). A kept file whose read
// fails is closed and the read is tried once more on a freshly opened one: the cgroup
// may have been removed and made again (a restarted container).
func (of *openFiles) read(buf *[]byte, path string) ([]byte, error) {
	if of == nil {
		return readFile(buf, path)
	}
	for retried := false; ; retried = true {
		kf, opened, err := of.file(path)
		if err != nil {
			return nil, err
		}
		if kf == nil {
			return readFile(buf, path)
		}
		b, err := preadAll(kf.rc, buf)
		if err == nil {
			return b, nil
		}
		of.drop(path, kf)
		if opened || retried {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
	}
}

// file is path's kept file, opened now (opened true) if it was not; nil when it
// cannot be kept.
func (of *openFiles) file(path string) (kf *keptFile, opened bool, err error) {
	of.mu.Lock()
	defer of.mu.Unlock()
	if of.closed {
		return nil, false, nil
	}
	if kf := of.files[path]; kf != nil {
		return kf, false, nil
	}
	if !of.budget.take() {
		return nil, false, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		of.budget.give()
		return nil, false, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		of.budget.give()
		return nil, false, err
	}
	kf = &keptFile{f: f, rc: rc}
	of.files[path] = kf
	return kf, true, nil
}

// drop closes kf, path's kept file, unless another read replaced or closed it already.
func (of *openFiles) drop(path string, kf *keptFile) {
	of.mu.Lock()
	defer of.mu.Unlock()
	if of.files[path] != kf {
		return
	}
	delete(of.files, path)
	kf.f.Close()
	of.budget.give()
}

// close closes every kept file; later reads keep none.
func (of *openFiles) close() {
	if of == nil {
		return
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	of.closed = true
	for path, kf := range of.files {
		kf.f.Close()
		of.budget.give()
		delete(of.files, path)
	}
}

// len is how many files are kept open.
func (of *openFiles) len() int {
	of.mu.Lock()
	defer of.mu.Unlock()
	return len(of.files)
}

// preadAll reads a cgroup file from offset 0 in one pread, into *buf grown until the
// content fits. A cgroup file is one record that the kernel's seq_file gives whole to a
// read from offset 0 with room for it, so a read shorter than the buffer is all of it,
// and the second read readFile makes to see the end is not needed.
func preadAll(rc syscall.RawConn, buf *[]byte) ([]byte, error) {
	b := (*buf)[:cap(*buf)]
	if len(b) == 0 {
		b = make([]byte, 4096)
	}
	for {
		var n int
		var err error
		if cerr := rc.Read(func(fd uintptr) bool {
			for {
				if n, err = unix.Pread(int(fd), b, 0); err != unix.EINTR {
					return true
				}
			}
		}); cerr != nil {
			return nil, cerr
		}
		if err != nil {
			*buf = b[:0]
			return nil, err
		}
		if n < len(b) {
			*buf = b[:0]
			return b[:n], nil
		}
		b = slices.Grow(b[:0], 2*len(b))
		b = b[:cap(b)]
	}
}
