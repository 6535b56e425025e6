package crilog

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/docker/docker/daemon/logger/jsonfilelog/jsonlog"
)

// Docker's json-file driver writes one JSON object per record and line, always in the
// same shape (daemon/logger/jsonfilelog/jsonlog: JSONLogs.MarshalJSONBuf):
//
//	{"log":"<message, escaped>","stream":"stdout","time":"<RFC 3339, UTC>"}
//
// with "attrs" before "time" when the driver's labels, env or tag options are set. The
// message ends with an escaped newline unless Docker cut it (a piece of a line longer
// than 16 KiB, or output left without a newline): a partial record.
//
// Most records hold no character Docker escapes but their newline, so appendRecord
// reads those straight from the bytes (fastRecord), and hands any other line to
// encoding/json: one CRI line per record either way, the same for the same input,
// which resuming after a crash relies on (it counts lines).

// The fixed parts of a record as Docker writes it.
const (
	jsonLogPrefix = `{"log":"`
	jsonStdout    = `","stream":"stdout","time":"`
	jsonStderr    = `","stream":"stderr","time":"`
	jsonEnd       = `"}`
)

// appendRecord appends to dst the CRI lines of one line of Docker's json-file (without
// its newline). ok is false for a line that is not a record (nothing is appended);
// a record without a message makes no line.
func appendRecord(dst, line []byte, tty bool) (out []byte, ok bool) {
	if out, ok := fastRecord(dst, line, tty); ok {
		return out, true
	}
	return slowRecord(dst, line, tty)
}

// fastRecord formats a record in Docker's own shape whose message holds no escape but
// its final newline, copying its bytes as they are; ok is false for any other line.
func fastRecord(dst, line []byte, tty bool) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(jsonLogPrefix))
	if !ok {
		return dst, false
	}
	q := bytes.IndexByte(rest, '"')
	if q <= 0 {
		return dst, false
	}
	msg := rest[:q]
	rest = rest[q:]
	var stream string
	switch {
	case bytes.HasPrefix(rest, []byte(jsonStdout)):
		stream, rest = streamStdout, rest[len(jsonStdout):]
	case bytes.HasPrefix(rest, []byte(jsonStderr)):
		stream, rest = streamStderr, rest[len(jsonStderr):]
	default:
		return dst, false
	}
	ts, ok := bytes.CutSuffix(rest, []byte(jsonEnd))
	if !ok || !isUTCStamp(ts) {
		return dst, false
	}
	tag := byte('P')
	if i := bytes.IndexByte(msg, '\\'); i >= 0 {
		switch {
		case i == len(msg)-2 && msg[i+1] == 'n':
			msg, tag = msg[:i], 'F'
		case tty && i == len(msg)-4 && string(msg[i:]) == `\r\n`:
			// A terminal ends its lines with CRLF: the CR goes with the newline.
			msg, tag = msg[:i], 'F'
		default:
			return dst, false
		}
	}
	dst = append(dst, ts...)
	dst = append(dst, ' ')
	dst = append(dst, stream...)
	dst = append(dst, ' ', tag, ' ')
	dst = append(dst, msg...)
	return append(dst, '\n'), true
}

// isUTCStamp tells whether b is a timestamp as Docker writes it in UTC, which is also
// how the CRI log spells it: YYYY-MM-DDTHH:MM:SS[.fraction]Z.
func isUTCStamp(b []byte) bool {
	const layout = "dddd-dd-ddTdd:dd:dd"
	if len(b) < len(layout)+1 || len(b) > len(layout)+11 || b[len(b)-1] != 'Z' {
		return false
	}
	for i := range len(layout) {
		if layout[i] == 'd' {
			if b[i] < '0' || b[i] > '9' {
				return false
			}
		} else if b[i] != layout[i] {
			return false
		}
	}
	frac := b[len(layout) : len(b)-1]
	if len(frac) == 0 {
		return true
	}
	if len(frac) < 2 || frac[0] != '.' {
		return false
	}
	for _, c := range frac[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// slowRecord formats any record encoding/json reads as Docker's JSONLog.
func slowRecord(dst, line []byte, tty bool) ([]byte, bool) {
	var jl jsonlog.JSONLog
	if err := json.Unmarshal(line, &jl); err != nil {
		return dst, false
	}
	if (jl.Stream != streamStdout && jl.Stream != streamStderr) || jl.Created.IsZero() {
		return dst, false
	}
	if y := jl.Created.UTC().Year(); y < 1 || y > 9999 {
		return dst, false
	}
	if jl.Log == "" {
		return dst, true
	}
	rec := record{stream: jl.Stream, ts: jl.Created, partial: true}
	msg := jl.Log
	if m, ok := strings.CutSuffix(msg, "\n"); ok {
		msg, rec.partial = m, false
		if tty {
			msg = strings.TrimSuffix(msg, "\r")
		}
	}
	rec.content = []byte(msg)
	return appendCRI(dst, rec), true
}
