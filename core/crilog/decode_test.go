package crilog

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// decodeAll returns the records of stream, as CRI lines, and the error that ended it
// (nil for a clean end).
func decodeAll(stream []byte, tty bool) (lines []string, skipped int, err error) {
	dec := newDecoder(bufio.NewReaderSize(bytes.NewReader(stream), 64<<10), tty)
	for {
		rec, err := dec.next()
		if isBadRecord(err) {
			skipped++
			continue
		}
		if errors.Is(err, io.EOF) {
			return lines, skipped, nil
		}
		if err != nil {
			return lines, skipped, err
		}
		lines = append(lines, strings.TrimSuffix(string(appendCRI(nil, rec)), "\n"))
	}
}

func TestMuxDecoder(t *testing.T) {
	recs := []fakeRecord{
		out(at(1), "a\n"),
		errl(at(2), "b\n"),
		out(at(3), strings.Repeat("p", dockerChunk)),
		out(at(3), "rest\n"),
		out(at(4), "last"),
	}
	var stream []byte
	for _, r := range recs {
		stream = append(stream, encodeRecord(r, false)...)
	}
	lines, skipped, err := decodeAll(stream, false)
	if err != nil || skipped != 0 {
		t.Fatalf("err %v, skipped %d", err, skipped)
	}
	checkLines(t, lines, criLines(false, recs...))

	// Timestamps with a zone offset (the local log driver's) are kept as instants.
	local := time.FixedZone("X", 2*3600)
	lines, _, err = decodeAll(frame("stdout", at(5).In(local).Format(time.RFC3339Nano)+" zoned\n"), false)
	if err != nil || len(lines) != 1 || lines[0] != criLine(out(at(5), "zoned\n"), false) {
		t.Errorf("zoned: %q, %v", lines, err)
	}
}

func TestMuxDecoderMalformed(t *testing.T) {
	good := encodeRecord(out(at(1), "ok\n"), false)
	for name, tc := range map[string]struct {
		stream  []byte
		lines   int
		skipped int
		fails   bool
	}{
		"unknown stream":  {append(append([]byte{}, good...), 9, 0, 0, 0, 0, 0, 0, 0), 1, 0, true},
		"stdin stream":    {[]byte{0, 0, 0, 0, 0, 0, 0, 1, 'x'}, 0, 0, true},
		"huge length":     {[]byte{1, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}, 0, 0, true},
		"cut header":      {append(append([]byte{}, good...), 1, 0), 1, 0, true},
		"cut payload":     {good[:len(good)-1], 0, 0, true},
		"no timestamp":    {append(frame("stderr", "Error grabbing logs: x\n"), good...), 1, 1, false},
		"empty":           {frame("stdout", ""), 0, 1, false},
		"only timestamp":  {frame("stdout", at(1).Format(time.RFC3339Nano)+" "), 1, 0, false},
		"long first word": {frame("stdout", strings.Repeat("9", 200)+" x\n"), 0, 1, false},
		"system error":    {frame("system", "error from daemon in stream: oops"), 0, 0, true},
	} {
		lines, skipped, err := decodeAll(tc.stream, false)
		if len(lines) != tc.lines || skipped != tc.skipped || (err != nil) != tc.fails {
			t.Errorf("%s: lines %q, skipped %d, err %v", name, lines, skipped, err)
		}
	}
}

func TestRawDecoder(t *testing.T) {
	recs := []fakeRecord{
		out(at(1), "a\r\n"),
		out(at(2), strings.Repeat("p", dockerChunk)),
		out(at(2), strings.Repeat("q", dockerChunk)),
		out(at(2), "\r\n"),
		out(at(3), strings.Repeat("f", dockerChunk)+"\r\n"),
		out(at(4), "no newline at exit"),
	}
	var stream []byte
	for _, r := range recs {
		stream = append(stream, encodeRecord(r, true)...)
	}
	lines, skipped, err := decodeAll(stream, true)
	if err != nil || skipped != 0 {
		t.Fatalf("err %v, skipped %d", err, skipped)
	}
	checkLines(t, lines, criLines(true, recs...))

	// A line far longer than a piece whose pieces are not recognised is cut to bound
	// memory, not lost.
	long := at(1).Format(time.RFC3339Nano) + " " + strings.Repeat("z", 3*maxRawRecord) + "\n"
	lines, _, err = decodeAll([]byte(long), true)
	if err != nil || len(lines) != 4 || strings.Count(strings.Join(lines, ""), "z") != 3*maxRawRecord {
		t.Errorf("long line: %d lines, %v", len(lines), err)
	}
	for i, l := range lines {
		if tag := strings.Fields(l)[2]; (i < 3) != (tag == "P") {
			t.Errorf("long line piece %d tagged %s", i, tag)
		}
	}
}

func TestRawDecoderMalformed(t *testing.T) {
	good := string(encodeRecord(out(at(1), "ok\n"), true))
	for name, tc := range map[string]struct {
		stream  string
		lines   int
		skipped int
	}{
		"garbage line":      {"garbage\n" + good, 1, 1},
		"empty line":        {"\n" + good, 1, 1},
		"no space":          {strings.Repeat("1", 100) + "\n" + good, 1, 1},
		"bad timestamp":     {"2026-99-99T00:00:00Z x\n" + good, 1, 1},
		"garbage at end":    {good + "2026-01", 1, 1},
		"garbage, no nl":    {good + "garbage", 1, 1},
		"timestamp only":    {at(1).Format(time.RFC3339Nano) + " ", 1, 0},
		"long garbage line": {strings.Repeat("x", 200<<10) + "\n" + good, 1, 1},
	} {
		lines, skipped, err := decodeAll([]byte(tc.stream), true)
		if len(lines) != tc.lines || skipped != tc.skipped || err != nil {
			t.Errorf("%s: lines %q, skipped %d, err %v", name, lines, skipped, err)
		}
	}
}

// FuzzDecode feeds both decoders arbitrary streams: they must not panic nor loop,
// and every record they return must make well-formed CRI lines that read back with
// its timestamp.
func FuzzDecode(f *testing.F) {
	// Small seeds: the fuzzer slows to a crawl on inputs of tens of KiB.
	recs := []fakeRecord{out(at(1), "a\n"), errl(at(2), "b\n"), out(at(3), "piece"), out(at(3), "rest\n"), out(at(4), "tail")}
	var mux, raw []byte
	for _, r := range recs {
		mux = append(mux, encodeRecord(r, false)...)
		raw = append(raw, encodeRecord(r, true)...)
	}
	f.Add(mux, false)
	f.Add(raw, true)
	// A TTY's piece of a long line, the next record's timestamp right after it.
	f.Add(append(encodeRecord(out(at(1), strings.Repeat("x", dockerChunk)), true), encodeRecord(out(at(1), "y\r\n"), true)...), true)
	f.Add(frame("stdout", "2026-01-02T03:04:05.000000001Z hi\n"), false)
	f.Add(frame("stderr", "2026-01-02T03:04:05+02:00 a\nb\n"), false)
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, false)
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 3, ' ', ' ', '\n'}, false)
	f.Add([]byte("2026-01-02T03:04:05Z a\r\n2026-01-02T03:04:05Z"), true)
	f.Add([]byte("no timestamp\n\n \n"), true)
	// A timestamp out of RFC 3339's years once in UTC.
	f.Add([]byte("\x02000\x00\x00\x00\x1e0000-01-01T00:00:00+01:00 0000"), false)
	f.Fuzz(func(t *testing.T, stream []byte, tty bool) {
		dec := newDecoder(bufio.NewReaderSize(bytes.NewReader(stream), 4096), tty)
		for i := 0; ; i++ {
			if i > len(stream)+1 {
				t.Fatalf("more records than bytes")
			}
			rec, err := dec.next()
			if isBadRecord(err) {
				continue
			}
			if err != nil {
				return
			}
			if rec.stream != streamStdout && rec.stream != streamStderr {
				t.Fatalf("stream %q", rec.stream)
			}
			out := appendCRI(nil, rec)
			if len(out) == 0 || out[len(out)-1] != '\n' {
				t.Fatalf("line %q", out)
			}
			for line := range bytes.Lines(out) {
				ts, ok := lineTimestamp(line)
				if !ok || !ts.Equal(rec.ts) {
					t.Fatalf("line %q reads back %v, %v, want %v", line, ts, ok, rec.ts)
				}
				f := bytes.SplitN(bytes.TrimSuffix(line, []byte{'\n'}), []byte{' '}, 4)
				if len(f) != 4 || string(f[1]) != rec.stream || (string(f[2]) != "P" && string(f[2]) != "F") {
					t.Fatalf("line %q", line)
				}
			}
		}
	})
}
