package stats

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

// openTo counts the descriptors of this process open on files under dir.
func openTo(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

func TestOpenFilesKeepAndClose(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for path, body := range map[string]string{a: "1\n", b: strings.Repeat("x", 10000)} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	budget := &fdBudget{limit: 10}
	of := newOpenFiles(budget)
	buf := getBuffer()
	defer putBuffer(buf)
	for range 3 {
		if got, err := of.read(buf, a); err != nil || string(got) != "1\n" {
			t.Fatalf("read a: %q, %v", got, err)
		}
		// Bigger than the buffer: read again from offset 0 into a bigger one.
		if got, err := of.read(buf, b); err != nil || len(got) != 10000 {
			t.Fatalf("read b: %d bytes, %v", len(got), err)
		}
	}
	if n := openTo(t, dir); n != 2 || of.len() != 2 || budget.used.Load() != 2 {
		t.Fatalf("%d descriptors open, %d kept, %d of the budget used; want 2 of each", n, of.len(), budget.used.Load())
	}
	if _, err := of.read(buf, filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
	of.close()
	if n := openTo(t, dir); n != 0 || of.len() != 0 || budget.used.Load() != 0 {
		t.Fatalf("after close: %d descriptors open, %d kept, %d of the budget used", n, of.len(), budget.used.Load())
	}
	// Closed (the container forgotten): reads still answer, keeping nothing open.
	if got, err := of.read(buf, a); err != nil || string(got) != "1\n" || openTo(t, dir) != 0 {
		t.Errorf("read after close: %q, %v, %d open", got, err, openTo(t, dir))
	}
}

// Over the budget, files are read without being kept.
func TestOpenFilesBudget(t *testing.T) {
	dir := t.TempDir()
	budget := &fdBudget{limit: 1}
	of := newOpenFiles(budget)
	buf := getBuffer()
	defer putBuffer(buf)
	for _, name := range []string{"a", "b", "c"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := of.read(buf, path); err != nil || string(got) != name {
			t.Fatalf("read %s: %q, %v", name, got, err)
		}
	}
	if n := openTo(t, dir); n != 1 || of.len() != 1 {
		t.Errorf("%d descriptors open, %d kept; want 1 (the budget)", n, of.len())
	}
	of.close()
	if budget.used.Load() != 0 {
		t.Errorf("budget used %d after close", budget.used.Load())
	}
}

// A kept file whose read fails (a removed cgroup's gives ENODEV) is closed and the
// file opened again.
func TestOpenFilesReopenAfterFailedRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	budget := &fdBudget{limit: 10}
	of := newOpenFiles(budget)
	defer of.close()
	buf := getBuffer()
	defer putBuffer(buf)
	if _, err := of.read(buf, path); err != nil {
		t.Fatal(err)
	}
	of.files[path].f.Close() // the next read through it fails
	if err := os.WriteFile(path+".new", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if got, err := of.read(buf, path); err != nil || string(got) != "new" {
		t.Errorf("read after the kept file failed: %q, %v; want the new file", got, err)
	}
	if n := openTo(t, dir); n != 1 || budget.used.Load() != 1 {
		t.Errorf("%d descriptors open, %d of the budget used; want 1", n, budget.used.Load())
	}
}

// A cgroup removed and made again (a container restarted in the same cgroup) is read
// anew: the kept file of the removed one fails with ENODEV.
func TestOpenFilesCgroupRemovedAndMadeAgain(t *testing.T) {
	parent, file := filepath.Join(cgroupRoot, "memory"), "memory.stat"
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		parent, file = cgroupRoot, "cgroup.stat" // v2
	}
	dir := filepath.Join(parent, fmt.Sprintf("dcri-stats-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("probe: cannot make a cgroup: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	budget := &fdBudget{limit: 10}
	of := newOpenFiles(budget)
	defer of.close()
	buf := getBuffer()
	defer putBuffer(buf)
	path := filepath.Join(dir, file)
	first, err := of.read(buf, path)
	if err != nil || len(first) == 0 {
		t.Fatalf("read %s: %q, %v", path, first, err)
	}
	// Read again through the kept file: the kernel makes the content again.
	if again, err := of.read(buf, path); err != nil || len(again) == 0 {
		t.Fatalf("second read: %q, %v", again, err)
	}
	kept := of.files[path]
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := of.read(buf, path); err == nil {
		t.Error("read of a removed cgroup succeeded")
	}
	if of.len() != 0 || budget.used.Load() != 0 {
		t.Errorf("the removed cgroup's file is still kept (%d, budget %d)", of.len(), budget.used.Load())
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := of.read(buf, path); err != nil || len(got) == 0 || of.files[path] == kept {
		t.Errorf("read of the cgroup made again: %q, %v", got, err)
	}
}

// The collector keeps the cgroup files of a running container open until Forget, and
// those of an earlier process of the same container close when a new one is seen.
func TestCollectorForgetClosesFiles(t *testing.T) {
	c := NewCollector()
	defer c.Close()
	self := &container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: "c1", State: &container.State{Running: true, Pid: os.Getpid()}}}
	base := openTo(t, cgroupRoot)
	st := c.Container(self, nil)
	if st.GetCpu() == nil {
		t.Skip("probe: this process's cgroup has no readable CPU stats")
	}
	kept := openTo(t, cgroupRoot) - base
	if kept < 3 {
		t.Fatalf("%d cgroup files kept open after a stats call, want the CPU and memory files", kept)
	}
	c.Container(self, nil)
	if n := openTo(t, cgroupRoot) - base; n != kept {
		t.Errorf("a second call opened more files: %d, then %d", kept, n)
	}
	// The same container with another process: the earlier one's files close.
	other := *self.ContainerJSONBase
	other.State = &container.State{Running: true, Pid: os.Getppid()}
	c.Container(&container.InspectResponse{ContainerJSONBase: &other}, nil)
	if n := openTo(t, cgroupRoot) - base; n > kept {
		t.Errorf("%d cgroup files open after the process changed, %d for one", n, kept)
	}
	c.Forget("c1")
	if n := openTo(t, cgroupRoot); n != base || c.budget.used.Load() != 0 {
		t.Errorf("after Forget: %d cgroup files open (%d before), budget used %d", n, base, c.budget.used.Load())
	}
	c.Forget("c1") // twice: nothing left
}

func TestFDBudgetFor(t *testing.T) {
	for nofile, want := range map[uint64]int64{1024: 256, 1048576: 1 << 16, 0: 0} {
		if got := fdBudgetFor(nofile); got != want {
			t.Errorf("fdBudgetFor(%d) = %d, want %d", nofile, got, want)
		}
	}
}
