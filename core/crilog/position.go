package crilog

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/atomicwriter"
)

// A position tells how far a container's records are in its log: resume(margin) says
// from which Docker timestamp to fetch its records again (Docker's Since is inclusive)
// and how many of the records fetched from there are in the log already.
//
// Docker orders records as its log driver stored them, but stamps each with the time
// its stream's copier read it, so a stderr record may be stored after a stdout record
// stamped a little later. So the position does not start at the newest record's
// timestamp but a margin before it (whole seconds), and counts every record written
// with a timestamp from there on, whatever their order: the records Docker holds
// after those form the rest of its stream from that timestamp, as long as none is
// stamped more than the margin before a record stored ahead of it.
type position struct {
	max time.Time
	// buckets count the records written by their timestamp: a bucket per second, and
	// one from a position file, which knows only how many records lie in [lo, hi].
	buckets []bucket
}

type bucket struct {
	lo, hi time.Time
	n      int
}

// add counts a record written.
func (p *position) add(ts time.Time) {
	if ts.After(p.max) {
		p.max = ts
	}
	lo := ts.Truncate(time.Second)
	hi := lo.Add(time.Second - 1)
	for i := len(p.buckets) - 1; i >= 0; i-- {
		if b := &p.buckets[i]; b.lo.Equal(lo) && b.hi.Equal(hi) {
			b.n++
			return
		}
	}
	p.buckets = append(p.buckets, bucket{lo: lo, hi: hi, n: 1})
}

// resume returns where to fetch the records again: since (zero when none was written:
// from the start), and how many records from since on are written already.
func (p *position) resume(margin time.Duration) (since time.Time, skip int) {
	if p.max.IsZero() {
		return time.Time{}, 0
	}
	since = p.max.Add(-margin).Truncate(time.Second)
	// Not inside a bucket whose records are not counted by second.
	for moved := true; moved; {
		moved = false
		for _, b := range p.buckets {
			if b.lo.Before(since) && !b.hi.Before(since) {
				since, moved = b.lo, true
			}
		}
	}
	for _, b := range p.buckets {
		if !b.lo.Before(since) {
			skip += b.n
		}
	}
	return since, skip
}

// prune forgets the buckets that no longer count.
func (p *position) prune(margin time.Duration) {
	since, _ := p.resume(margin)
	kept := p.buckets[:0]
	for _, b := range p.buckets {
		if !b.hi.Before(since) {
			kept = append(kept, b)
		}
	}
	p.buckets = kept
}

// posFile is the content of a container's position file: its position when written,
// and which log file, up to which size, that position covers.
type posFile struct {
	Path  string    `json:"path"`
	Since time.Time `json:"since"`
	Count int       `json:"count"`
	Max   time.Time `json:"max"`
	Dev   uint64    `json:"dev"`
	Ino   uint64    `json:"ino"`
	Size  int64     `json:"size"`
}

func (pf *posFile) position() position {
	if pf.Max.IsZero() {
		return position{}
	}
	return position{max: pf.Max, buckets: []bucket{{lo: pf.Since, hi: pf.Max, n: pf.Count}}}
}

// covers tells whether pf was written for the file st describes, which still holds
// all it held then.
func (pf *posFile) covers(st os.FileInfo) bool {
	dev, ino := fileID(st)
	return pf.Dev == dev && pf.Ino == ino && st.Size() >= pf.Size
}

func fileID(st os.FileInfo) (dev, ino uint64) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev), uint64(s.Ino)
	}
	return 0, 0
}

// posPath is the position file of container id in dir.
func posPath(dir, id string) string {
	return filepath.Join(dir, url.PathEscape(id)+posSuffix)
}

const posSuffix = ".pos"

func readPosFile(path string) (*posFile, error) { return readJSON[posFile](path) }

// scanChunk is how much of a log file is read at a time, from its end backwards.
const scanChunk = 64 << 10

// logEnd returns the offset just after the last newline of f between base and size:
// bytes after it are a line torn by a crash.
func logEnd(f io.ReaderAt, base, size int64) (int64, error) {
	buf := make([]byte, scanChunk)
	for end := size; end > base; {
		start := max(base, end-scanChunk)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return base, nil
}

// scanTail reads the timestamps of the lines of a CRI log between base and end (end
// just after a newline), newest first, only as far back as needed: covered reports
// that it stopped at a record stamped so long before the position's since that no
// record before it counts (see position).
func scanTail(f io.ReaderAt, base, end int64, margin time.Duration) (ts []time.Time, covered bool, err error) {
	var maxTS time.Time
	var carry []byte // the start of the line the bytes read before ended in, with its end
	for pos := end; pos > base; {
		start := max(base, pos-scanChunk)
		data := make([]byte, pos-start, int(pos-start)+len(carry))
		if _, err := f.ReadAt(data, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		data = append(data, carry...)
		carry = nil
		if start > base {
			// The first line may begin before start.
			i := bytes.IndexByte(data, '\n')
			if i < 0 || i == len(data)-1 {
				carry, pos = data, start
				continue
			}
			carry, data = data[:i+1], data[i+1:]
		}
		for len(data) > 0 {
			data = data[:len(data)-1] // its newline
			line := data[bytes.LastIndexByte(data, '\n')+1:]
			data = data[:len(data)-len(line)]
			t, ok := lineTimestamp(line)
			if !ok {
				continue
			}
			ts = append(ts, t)
			if t.After(maxTS) {
				maxTS = t
			}
			if t.Before(maxTS.Add(-margin).Truncate(time.Second).Add(-margin)) {
				return ts, true, nil
			}
		}
		pos = start
	}
	return ts, false, nil
}

// loadPosition works out, from container's log file f (opened at path) and its
// position file pf (nil if none), how far its records are in its log. It also
// returns where the log's complete lines end.
//
// When the lines at the end of f do not tell enough (the kubelet rotated f a moment
// ago, or just before a crash, leaving it empty), pf tells what went before: it was
// written when f was opened, and again on Stop and Close. When f is empty and pf was
// written for another file, that file may still be beside f under the name the
// kubelet renamed it to (a crash between the kubelet's rename and ReopenContainerLog).
func loadPosition(f *os.File, path string, pf *posFile, margin time.Duration) (position, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return position{}, 0, err
	}
	var base int64
	matched := pf != nil && pf.covers(st)
	if matched {
		base = pf.Size
	}
	end, err := logEnd(f, base, st.Size())
	if err != nil {
		return position{}, 0, err
	}
	ts, covered, err := scanTail(f, base, end, margin)
	if err != nil {
		return position{}, 0, err
	}
	switch {
	case len(ts) > 0:
		return fromRecords(ts, pf, matched && !covered, margin), end, nil
	case pf == nil:
		return position{}, end, nil
	case matched || end > 0:
		return pf.position(), end, nil
	}
	// f is empty, pf is of another file: look for it beside f.
	if p, ok := siblingPosition(path, pf, margin); ok {
		return p, end, nil
	}
	return pf.position(), end, nil
}

func fromRecords(ts []time.Time, pf *posFile, before bool, margin time.Duration) position {
	var p position
	if before {
		p = pf.position()
	}
	for _, t := range ts {
		p.add(t)
	}
	p.prune(margin)
	return p
}

// siblingPosition finds the file pf was written for among path's rotated files, and
// returns the position of what it holds.
func siblingPosition(path string, pf *posFile, margin time.Duration) (position, bool) {
	names, _ := filepath.Glob(globEscape(path) + ".*")
	for _, name := range names {
		st, err := os.Stat(name)
		if err != nil || !st.Mode().IsRegular() || !pf.covers(st) {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		end, err := logEnd(f, pf.Size, st.Size())
		if err != nil {
			f.Close()
			continue
		}
		ts, covered, err := scanTail(f, pf.Size, end, margin)
		f.Close()
		if err != nil {
			continue
		}
		return fromRecords(ts, pf, !covered, margin), true
	}
	return position{}, false
}

func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeFileAtomic writes a position file so that a crash leaves the old or the new one
// (atomicwriter), in a directory made if need be.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicwriter.WriteFile(path, data, 0o600)
}
