package crilog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/pkg/stdcopy"
)

// Stream names, as the CRI log format spells them.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
)

const (
	// dockerChunk is the size of the pieces Docker cuts a line without a newline into
	// (daemon/logger/copier.go: defaultBufSize). In a TTY's raw stream a piece has no
	// newline after it, so the next record's timestamp follows it directly.
	dockerChunk = 16 << 10
	// maxFrame bounds the payload of one multiplexed frame: Docker sends a record per
	// frame, at most a chunk and its timestamp; more is a broken stream.
	maxFrame = 16 << 20
	// maxRawRecord bounds a record of a TTY's raw stream held in memory: one that grows
	// past it (a piece whose end was not recognised) is cut into partial lines.
	maxRawRecord = 1 << 20
	// maxTimestamp bounds the length of a record's timestamp (RFC 3339, nanoseconds,
	// a zone offset).
	maxTimestamp = 64
)

// record is one record of Docker's logs stream: one log message of the container.
type record struct {
	stream string
	ts     time.Time
	// content is the message without its trailing newline; it is valid until the
	// decoder's next call.
	content []byte
	// partial: the message did not end with a newline (a piece of a long line, or the
	// output a container left without a newline when it exited).
	partial bool
}

// badRecordError is a record that cannot be used (it has no timestamp, e.g. an error
// message Docker writes into the stream); the stream goes on after it.
type badRecordError struct{ msg string }

func (e *badRecordError) Error() string { return e.msg }

func isBadRecord(err error) bool {
	var b *badRecordError
	return errors.As(err, &b)
}

// decoder reads the records of a logs stream fetched with Timestamps: they come as
// "<timestamp> <message>". next returns io.EOF at the stream's clean end, a
// *badRecordError for a record it skipped, and any other error for a broken stream.
type decoder interface {
	next() (record, error)
}

// newDecoder returns the decoder of a container's logs stream: multiplexed frames
// without a TTY, raw output (stdout only) with one.
func newDecoder(r *bufio.Reader, tty bool) decoder {
	if tty {
		return &rawDecoder{r: r}
	}
	return &muxDecoder{r: r}
}

// muxDecoder reads Docker's multiplexed stream: frames of an 8-byte header (stream,
// three zero bytes, big-endian uint32 length) and a payload. Docker writes each
// record in one frame.
type muxDecoder struct {
	r   *bufio.Reader
	buf []byte
}

// The layout of a frame's header (stdcopy keeps its constants unexported).
const (
	frameHeader    = 8 // header length
	frameFdIndex   = 0 // the stream's stdcopy.StdType
	frameSizeIndex = 4 // the payload's length, big-endian uint32
)

func (d *muxDecoder) next() (record, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(d.r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return record{}, fmt.Errorf("logs stream cut inside a frame header")
		}
		return record{}, err
	}
	n := binary.BigEndian.Uint32(hdr[frameSizeIndex:])
	if n > maxFrame {
		return record{}, fmt.Errorf("malformed logs stream: frame of %d bytes", n)
	}
	if cap(d.buf) < int(n) {
		d.buf = make([]byte, n)
	}
	p := d.buf[:n]
	if _, err := io.ReadFull(d.r, p); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return record{}, fmt.Errorf("logs stream cut inside a frame")
		}
		return record{}, err
	}
	var stream string
	switch stdcopy.StdType(hdr[frameFdIndex]) {
	case stdcopy.Stdout:
		stream = streamStdout
	case stdcopy.Stderr:
		stream = streamStderr
	case stdcopy.Systemerr:
		return record{}, fmt.Errorf("docker: %s", bytes.TrimSpace(p))
	default:
		return record{}, fmt.Errorf("malformed logs stream: frame of stream %d", hdr[frameFdIndex])
	}
	return parsePayload(stream, p)
}

// parsePayload splits a frame's payload, "<timestamp> <message>".
func parsePayload(stream string, p []byte) (record, error) {
	i := bytes.IndexByte(p[:min(len(p), maxTimestamp+1)], ' ')
	if i < 0 {
		return record{}, &badRecordError{fmt.Sprintf("%s record without a timestamp: %q", stream, clip(p))}
	}
	ts, err := parseTimestamp(p[:i])
	if err != nil {
		return record{}, &badRecordError{fmt.Sprintf("%s record without a timestamp: %q", stream, clip(p))}
	}
	rec := record{stream: stream, ts: ts, content: p[i+1:]}
	if n := len(rec.content); n > 0 && rec.content[n-1] == '\n' {
		rec.content = rec.content[:n-1]
	} else {
		rec.partial = true
	}
	return rec, nil
}

// rawDecoder reads the raw stream of a container with a TTY: records follow each
// other, "<timestamp> <message>", a full line ending with its newline and a piece of a
// long line (exactly dockerChunk bytes) with none, so that the next record's timestamp
// follows it directly. A piece is recognised by its size and the timestamp after it.
type rawDecoder struct {
	r       *bufio.Reader
	content []byte
	// cont is the timestamp of a record cut at maxRawRecord, whose rest comes next.
	cont time.Time
}

func (d *rawDecoder) next() (record, error) {
	rec := record{stream: streamStdout}
	if !d.cont.IsZero() {
		rec.ts, d.cont = d.cont, time.Time{}
	} else {
		ts, err := d.timestamp()
		if err != nil {
			return record{}, err
		}
		rec.ts = ts
	}
	d.content = d.content[:0]
	for {
		avail := d.r.Buffered()
		if avail == 0 {
			if _, err := d.r.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					// The container's last output, without a newline.
					rec.content, rec.partial = d.content, true
					return rec, nil
				}
				return record{}, err
			}
			avail = d.r.Buffered()
		}
		want := avail
		if len(d.content) < dockerChunk {
			want = min(want, dockerChunk-len(d.content))
		}
		want = min(want, maxRawRecord-len(d.content))
		b, _ := d.r.Peek(want)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			d.content = append(d.content, b[:i]...)
			d.r.Discard(i + 1)
			rec.content = bytes.TrimSuffix(d.content, []byte{'\r'})
			return rec, nil
		}
		d.content = append(d.content, b...)
		d.r.Discard(len(b))
		if len(d.content) == dockerChunk && d.startsRecord() {
			rec.content, rec.partial = d.content, true
			return rec, nil
		}
		if len(d.content) >= maxRawRecord {
			d.cont = rec.ts
			rec.content, rec.partial = d.content, true
			return rec, nil
		}
	}
}

// timestamp reads a record's timestamp and the space after it. It skips a line that
// does not start with one, returning a *badRecordError.
func (d *rawDecoder) timestamp() (time.Time, error) {
	for n := 1; ; n++ {
		b, err := d.r.Peek(n)
		if len(b) < n {
			if len(b) == 0 && errors.Is(err, io.EOF) {
				return time.Time{}, io.EOF
			}
			if errors.Is(err, io.EOF) {
				d.r.Discard(len(b))
				return time.Time{}, &badRecordError{fmt.Sprintf("raw stream ends with %q", clip(b))}
			}
			return time.Time{}, err
		}
		switch c := b[n-1]; {
		case c == ' ':
			ts, err := parseTimestamp(b[:n-1])
			if err != nil {
				return time.Time{}, d.skipLine()
			}
			d.r.Discard(n)
			return ts, nil
		case c == '\n' || n > maxTimestamp:
			return time.Time{}, d.skipLine()
		}
	}
}

// skipLine discards the stream up to its next newline, included.
func (d *rawDecoder) skipLine() error {
	var head []byte
	for {
		b, err := d.r.ReadSlice('\n')
		if len(head) < 80 {
			head = append(head, b[:min(len(b), 80-len(head))]...)
		}
		if err == nil {
			return &badRecordError{fmt.Sprintf("raw stream line without a timestamp: %q", head)}
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return &badRecordError{fmt.Sprintf("raw stream ends with %q", head)}
			}
			return err
		}
	}
}

// startsRecord tells whether the stream goes on with a record's timestamp and its
// space. It blocks only as long as the bytes so far could still be a timestamp.
func (d *rawDecoder) startsRecord() bool {
	for n := 1; n <= maxTimestamp+1; n++ {
		b, _ := d.r.Peek(n)
		if len(b) < n {
			return false
		}
		c := b[n-1]
		if c == ' ' {
			_, err := parseTimestamp(b[:n-1])
			return err == nil
		}
		if !isTimestampByte(c) {
			return false
		}
	}
	return false
}

func isTimestampByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == ':' || c == 'T' || c == 'Z' || c == '.' || c == '+'
}

// parseTimestamp parses Docker's record timestamp (RFC 3339 with nanoseconds).
func parseTimestamp(b []byte) (time.Time, error) {
	if len(b) < len("2006-01-02T15:04:05Z") || len(b) > maxTimestamp {
		return time.Time{}, fmt.Errorf("bad timestamp %q", b)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, err
	}
	if y := ts.UTC().Year(); y < 1 || y > 9999 {
		// Out of RFC 3339's range once in UTC.
		return time.Time{}, fmt.Errorf("bad timestamp %q", b)
	}
	return ts, nil
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// appendCRI appends rec to dst as CRI log lines: "<timestamp> <stream> <P|F> <message>".
// A message holding newlines (no Docker log driver makes one) becomes several lines.
func appendCRI(dst []byte, rec record) []byte {
	content := rec.content
	for {
		i := bytes.IndexByte(content, '\n')
		if i < 0 {
			break
		}
		dst = appendLine(dst, rec.ts, rec.stream, 'F', content[:i])
		content = content[i+1:]
	}
	tag := byte('F')
	if rec.partial {
		tag = 'P'
	}
	return appendLine(dst, rec.ts, rec.stream, tag, content)
}

func appendLine(dst []byte, ts time.Time, stream string, tag byte, content []byte) []byte {
	dst = ts.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, ' ')
	dst = append(dst, stream...)
	dst = append(dst, ' ', tag, ' ')
	dst = append(dst, content...)
	return append(dst, '\n')
}

// lineTimestamp returns the timestamp of a CRI log line.
func lineTimestamp(line []byte) (time.Time, bool) {
	i := bytes.IndexByte(line[:min(len(line), maxTimestamp+1)], ' ')
	if i < 0 {
		return time.Time{}, false
	}
	ts, err := parseTimestamp(line[:i])
	return ts, err == nil
}
