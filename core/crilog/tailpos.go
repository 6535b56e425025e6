package crilog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/checkpoint"
)

// fileKey names a file for good, whatever it is renamed to: its device and inode, and
// its birth time where the file system keeps one, for an inode number is soon used
// again once its file is deleted (Docker's rotation deletes one as it creates one).
type fileKey struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Birth int64  `json:"birth,omitempty"`
}

// fileStat is what a tailer needs to know of a file.
type fileStat struct {
	key     fileKey
	size    int64
	regular bool
}

// statPath is stat(2) of path, with the birth time.
func statPath(path string) (fileStat, error) {
	return statx(unix.AT_FDCWD, path, 0)
}

// statOpen is fstat(2) of f, with the birth time.
func statOpen(f *os.File) (fileStat, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return fileStat{}, err
	}
	var st fileStat
	var serr error
	if err := rc.Control(func(fd uintptr) { st, serr = statx(int(fd), "", unix.AT_EMPTY_PATH) }); err != nil {
		return fileStat{}, err
	}
	if serr != nil {
		return fileStat{}, &os.PathError{Op: "fstat", Path: f.Name(), Err: serr}
	}
	return st, nil
}

func statx(dirfd int, path string, flags int) (fileStat, error) {
	var stx unix.Statx_t
	if err := unix.Statx(dirfd, path, flags, unix.STATX_TYPE|unix.STATX_INO|unix.STATX_SIZE|unix.STATX_BTIME, &stx); err != nil {
		if path != "" {
			return fileStat{}, &os.PathError{Op: "stat", Path: path, Err: err}
		}
		return fileStat{}, err
	}
	st := fileStat{
		key:     fileKey{Dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), Ino: stx.Ino},
		size:    int64(stx.Size),
		regular: stx.Mode&unix.S_IFMT == unix.S_IFREG,
	}
	if stx.Mask&unix.STATX_BTIME != 0 {
		st.key.Birth = stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
	}
	return st, nil
}

// tailPos is the content of a tailer's position file: the records of Docker's
// json-file Src before Off are copied, into the CRI log Dst up to Size.
type tailPos struct {
	Src  fileKey `json:"src"`
	Off  int64   `json:"off"`
	Dst  fileKey `json:"dst"`
	Size int64   `json:"size"`
}

const tailSuffix = ".tail"

// tailPath is the position file of container id's tailer in dir.
func tailPath(dir, id string) string {
	return filepath.Join(dir, url.PathEscape(id)+tailSuffix)
}

func readTailPos(path string) (*tailPos, error) { return readJSON[tailPos](path) }

// savePos writes the position file. It is renamed into place but not synced: it has to
// survive dockercri being killed, not the machine crashing (the logs themselves are
// not synced either), and a sync would flush every file's data on ext4.
func (t *tailer) savePos() {
	if !t.loaded || t.skip > 0 || t.src == nil {
		return
	}
	data, err := json.Marshal(tailPos{Src: t.srcKey, Off: t.off, Dst: t.logKey, Size: t.log.size})
	if err == nil {
		err = checkpoint.ReplaceFile(tailPath(t.m.stateDir, t.c.ID), data)
	}
	if err != nil {
		klog.ErrorS(err, "Write a container's log position file", "containerID", t.c.ID)
		return
	}
	t.saved = t.off
}

// dockerFile is one of the files of Docker's json-file log.
type dockerFile struct {
	name string
	key  fileKey
}

// listFiles lists Docker's files of the container's log, oldest first: <id>-json.log.N
// … .1, then <id>-json.log (Docker renames each to the next number as it rotates).
// The list is read until two readings agree, so that a rotation in between does not
// leave a file out.
func (t *tailer) listFiles() ([]dockerFile, error) {
	var prev []dockerFile
	for range 10 {
		files, err := t.scanFiles()
		if err != nil {
			return nil, err
		}
		if prev != nil && sameFiles(prev, files) {
			return files, nil
		}
		prev = files
	}
	return prev, nil
}

func (t *tailer) scanFiles() ([]dockerFile, error) {
	for range 100 {
		files, whole, err := t.scanOnce()
		if err != nil || whole {
			return files, err
		}
		// Docker is renaming the files one after the other: let it finish.
		time.Sleep(time.Millisecond)
	}
	return nil, fmt.Errorf("docker's log files of %s keep changing", t.c.ID)
}

// scanOnce lists the files; whole is false when their numbers have a gap (a rotation
// is under way).
func (t *tailer) scanOnce() (files []dockerFile, whole bool, err error) {
	entries, err := os.ReadDir(t.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, true, nil
	} else if err != nil {
		return nil, false, err
	}
	rotated := map[int]string{}
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), t.base+".")); err == nil && n > 0 && strings.HasPrefix(e.Name(), t.base+".") {
			rotated[n] = e.Name()
		}
	}
	for n := len(rotated); n >= 1; n-- {
		name, ok := rotated[n]
		if !ok {
			return nil, false, nil
		}
		st, err := statPath(filepath.Join(t.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		} else if err != nil {
			return nil, false, err
		}
		files = append(files, dockerFile{filepath.Join(t.dir, name), st.key})
	}
	st, err := statPath(t.c.DockerLog)
	if err == nil {
		files = append(files, dockerFile{t.c.DockerLog, st.key})
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	return files, true, nil
}

func sameFiles(a, b []dockerFile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// openFile opens one of Docker's files, checking it is still the one listed.
func openFile(df dockerFile) (*os.File, bool, error) {
	f, err := os.Open(df.name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	st, err := statOpen(f)
	if err != nil {
		f.Close()
		return nil, false, err
	}
	if st.key != df.key {
		f.Close()
		return nil, false, nil
	}
	return f, true, nil
}

// nextFile opens the file Docker wrote after src, which it rotated: nil when there is
// none yet (Docker renamed src and has not created the new file).
func (t *tailer) nextFile() (*os.File, fileKey, error) {
	for range 10 {
		files, err := t.listFiles()
		if err != nil {
			return nil, fileKey{}, err
		}
		i := -1
		for j, f := range files {
			if f.key == t.srcKey {
				i = j
			}
		}
		var next dockerFile
		switch {
		case len(files) == 0 || i == len(files)-1:
			return nil, fileKey{}, nil
		case i < 0:
			// Docker removed src (the oldest file of its rotation) while it was read:
			// a file that came between may have gone too.
			klog.ErrorS(nil, "Docker rotated its log file away before dockercri read it all: lines may be lost from the container's log (see --docker-log-max-size)", "containerID", t.c.ID)
			next = files[0]
		default:
			next = files[i+1]
		}
		f, ok, err := openFile(next)
		if err != nil {
			return nil, fileKey{}, err
		}
		if ok {
			return f, next.key, nil
		}
		// Rotated again meanwhile: list again.
	}
	return nil, fileKey{}, fmt.Errorf("docker's log files of %s keep changing", t.c.ID)
}

// load opens the files and works out where to copy from, once.
//
// Without a position file the container's output is copied from the start of the
// oldest file Docker holds. With one, from its offset in the file it names, found among
// Docker's files by identity; and the CRI log it names may hold lines beyond its size
// (written after it, before a crash): as many lines of the records that follow are
// skipped. The position file names the CRI log written when it was written: the file
// at the log's path, or, when the kubelet renamed it for its rotation just before a
// crash, that file beside it (found by identity).
func (t *tailer) load() error {
	if t.loaded {
		return nil
	}
	pf, err := readTailPos(tailPath(t.m.stateDir, t.c.ID))
	if err != nil {
		klog.ErrorS(err, "Ignore a container's log position file", "containerID", t.c.ID)
		pf = nil
	}
	dst, err := openExclusive(t.c.Path, os.O_RDWR)
	if err != nil {
		return &writeError{err}
	}
	ok := false
	defer func() {
		if !ok {
			dst.Close()
		}
	}()
	st, err := statOpen(dst)
	if err != nil {
		return &writeError{err}
	}
	files, err := t.listFiles()
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errDockerLogGone
	}
	from, off := files[0], int64(0)
	if pf != nil {
		found := false
		for _, f := range files {
			if f.key == pf.Src {
				from, off, found = f, pf.Off, true
			}
		}
		if !found {
			klog.ErrorS(nil, "Docker rotated its log file away while dockercri was down: lines are lost from the container's log (see --docker-log-max-size)", "containerID", t.c.ID)
			pf = nil
		}
	}
	src, opened, err := openFile(from)
	if err != nil {
		return err
	}
	if !opened {
		return fmt.Errorf("docker rotated %s while it was opened: retrying", from.name)
	}
	end, skip, err := written(dst, st, t.c.Path, pf)
	if err != nil {
		src.Close()
		return &writeError{err}
	}
	if st.size > end {
		// A line torn by a crash: its record is copied again, whole.
		if err := dst.Truncate(end); err != nil {
			src.Close()
			return &writeError{err}
		}
	}
	ok = true
	t.src, t.srcKey, t.off, t.seen = src, from.key, off, off
	t.log.replace(dst, end)
	t.logKey = st.key
	t.skip, t.loaded = skip, true
	klog.V(4).InfoS("Copying container output to its log from Docker's log file", "containerID", t.c.ID, "path", t.c.Path, "from", from.name, "offset", off, "skip", skip)
	if skip > 0 {
		if err := t.drain(); err != nil {
			return err
		}
		if t.skip > 0 {
			klog.ErrorS(nil, "The container's log holds more lines than Docker's log file after the position dockercri kept", "containerID", t.c.ID, "lines", t.skip)
			t.skip = 0
		}
	}
	t.savePos()
	return nil
}

// written returns where the complete lines of the CRI log dst (st) end, and how many
// lines the log pf names holds beyond pf.Size.
func written(dst *os.File, st fileStat, path string, pf *tailPos) (end int64, lines int, err error) {
	if pf != nil && pf.Dst == st.key && st.size >= pf.Size {
		end, err := logEnd(dst, pf.Size, st.size)
		if err != nil {
			return 0, 0, err
		}
		n, err := countLines(dst, pf.Size, end)
		return end, n, err
	}
	end, err = logEnd(dst, 0, st.size)
	if err != nil || pf == nil {
		return end, 0, err
	}
	names, _ := filepath.Glob(globEscape(path) + ".*")
	for _, name := range names {
		sst, err := statPath(name)
		if err != nil || !sst.regular || sst.key != pf.Dst || sst.size < pf.Size {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		defer f.Close()
		send, err := logEnd(f, pf.Size, sst.size)
		if err != nil {
			return 0, 0, err
		}
		n, err := countLines(f, pf.Size, send)
		return end, n, err
	}
	if end > 0 {
		// The CRI log was written after the position file was (it names another): not
		// by this tailer, which writes the position file first.
		klog.InfoS("A container's CRI log is not the one its position file names; copying on after it", "path", path)
	}
	return end, 0, nil
}

// countLines counts the newlines of f between from and to.
func countLines(f io.ReaderAt, from, to int64) (int, error) {
	bp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bp)
	buf := *bp
	n := 0
	for from < to {
		b := buf[:min(int64(len(buf)), to-from)]
		if _, err := f.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		n += bytes.Count(b, []byte{'\n'})
		from += int64(len(b))
	}
	return n, nil
}
