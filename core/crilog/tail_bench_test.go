package crilog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/daemon/logger/jsonfilelog/jsonlog"
)

// BenchmarkTailCopy: a tailer copies Docker's json-file of a container printing
// 100-byte lines (as make bench's chatty one does) into a new CRI log. cpu-ms/MB is
// the process's CPU per MB of the container's output: reading, decoding and writing,
// without the wake-ups of a live copy, and without the machine's other load, which
// swings make bench's figures far more than any change of the tailer does.
func BenchmarkTailCopy(b *testing.B) {
	const lines = 200_000
	line := strings.Repeat("x", 100) + "\n"
	dir := filepath.Join(b.TempDir(), "c1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(dir, "c1-json.log")
	var buf bytes.Buffer
	ts := t0
	for range lines {
		ts = ts.Add(time.Microsecond + 7)
		if err := (&jsonlog.JSONLogs{Log: []byte(line), Stream: "stdout", Created: ts}).MarshalJSONBuf(&buf); err != nil {
			b.Fatal(err)
		}
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(src, buf.Bytes(), 0o640); err != nil {
		b.Fatal(err)
	}
	mb := float64(lines*len(line)) / 1e6
	b.SetBytes(int64(lines * len(line)))
	var cpu time.Duration
	for b.Loop() {
		state, out := b.TempDir(), filepath.Join(b.TempDir(), "0.log")
		m := newTailManager(b, state)
		c0 := processCPU(b)
		waitTailed(b, m, Container{ID: "c1", Path: out, DockerLog: src})
		cpu += processCPU(b) - c0
		m.Close()
		os.Remove(out)
	}
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/mb/float64(b.N), "cpu-ms/MB")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFormat: the CRI lines of 64 KiB of Docker's json-file, 100-byte lines.
func BenchmarkFormat(b *testing.B) {
	line := strings.Repeat("x", 100) + "\n"
	var buf bytes.Buffer
	ts := t0
	for buf.Len() < readBuffer-200 {
		ts = ts.Add(time.Microsecond + 7)
		if err := (&jsonlog.JSONLogs{Log: []byte(line), Stream: "stdout", Created: ts}).MarshalJSONBuf(&buf); err != nil {
			b.Fatal(err)
		}
		buf.WriteByte('\n')
	}
	data := buf.Bytes()
	tl := &tailer{}
	out := make([]byte, 0, readBuffer)
	b.SetBytes(int64(len(data)))
	c0 := processCPU(b)
	for b.Loop() {
		out = tl.format(out[:0], data)
	}
	b.ReportMetric(float64(processCPU(b)-c0)/float64(b.N), "cpu-ns/op")
}
