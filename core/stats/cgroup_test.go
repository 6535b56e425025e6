package stats

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadStat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "memory.stat")
	// Longer than the pool's first buffer, so that readFile grows it.
	body := strings.Repeat("padding_key 1\n", 400) + "total_rss 4096\ntotal_inactive_file 123\ntotal_pgfault 18446744073709551615\nbroken\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	buf := getBuffer()
	defer putBuffer(buf)
	vals := []uint64{7, 7, 7, 7}
	if err := readStat(readFile, buf, path, memStatKeysV1, vals); err != nil {
		t.Fatal(err)
	}
	want := []uint64{123, 4096, 18446744073709551615, 0} // total_pgmajfault missing: 0
	for i := range want {
		if vals[i] != want[i] {
			t.Errorf("%s = %d, want %d", memStatKeysV1[i], vals[i], want[i])
		}
	}
	if err := readStat(readFile, buf, filepath.Join(dir, "missing"), memStatKeysV1, vals); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
}

// TestValuesFound: Values says how many keys b has, which tells a kernel without a
// counter (an old one's /proc/vmstat lacks oom_kill) from a count of 0.
func TestValuesFound(t *testing.T) {
	v := make([]uint64, 1)
	if n := Values([]byte("oom 0\noom_kill 3\n"), []string{"oom_kill"}, v); n != 1 || v[0] != 3 {
		t.Errorf("oom_kill 3: found %d, value %d", n, v[0])
	}
	if n := Values([]byte("oom 0\noom_kill_x 3\n"), []string{"oom_kill"}, v); n != 0 || v[0] != 0 {
		t.Errorf("no oom_kill: found %d, value %d", n, v[0])
	}
}

func TestReadUint(t *testing.T) {
	dir := t.TempDir()
	buf := getBuffer()
	defer putBuffer(buf)
	for body, want := range map[string]uint64{"42\n": 42, "max\n": 0, "0": 0} {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := readUint(readFile, buf, path); err != nil || got != want {
			t.Errorf("readUint(%q) = %d, %v; want %d", body, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "12a", "18446744073709551616"} {
		if got, err := parseUint([]byte(bad)); err == nil {
			t.Errorf("parseUint(%q) = %d, want an error", bad, got)
		}
	}
}
