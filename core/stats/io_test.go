package stats

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadIO(t *testing.T) {
	sys := t.TempDir()
	old := sysBlock
	sysBlock = sys
	t.Cleanup(func() { sysBlock = old })
	if err := os.MkdirAll(filepath.Join(sys, "254:0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys, "254:0", "uevent"), []byte("MAJOR=254\nMINOR=0\nDEVNAME=vdq\nDEVTYPE=disk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(dir, name, content string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v2 := t.TempDir()
	write(v2, "io.stat", "254:0 rbytes=4096 wbytes=16777216 rios=1 wios=40 dbytes=0 dios=0\n7:3 rbytes=512 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n")
	got := (&cgroup{v2: true, dirs: map[string]string{"": v2}}).readIO()
	want := []DeviceIO{{Device: "/dev/vdq", ReadBytes: 4096, WriteBytes: 16777216, Reads: 1, Writes: 40}, {Device: "7:3", ReadBytes: 512, Reads: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v2: %+v, want %+v", got, want)
	}
	v1 := t.TempDir()
	write(v1, "blkio.throttle.io_service_bytes_recursive", "254:0 Read 4096\n254:0 Write 8192\n254:0 Sync 0\n254:0 Async 12288\n254:0 Total 12288\nTotal 12288\n")
	write(v1, "blkio.throttle.io_serviced_recursive", "254:0 Read 1\n254:0 Write 2\n254:0 Total 3\nTotal 3\n")
	got = (&cgroup{dirs: map[string]string{"blkio": v1}}).readIO()
	want = []DeviceIO{{Device: "/dev/vdq", ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v1: %+v, want %+v", got, want)
	}
	if got := (&cgroup{v2: true, dirs: map[string]string{"": t.TempDir()}}).readIO(); got != nil {
		t.Errorf("no io.stat: %+v", got)
	}
}
