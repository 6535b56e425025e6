package framework

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// cgroupDirs are the directories of the cgroup path in every hierarchy mounted under
// /sys/fs/cgroup (each v1 controller, or the v2 tree).
func cgroupDirs(path string) []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + path)
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dirs = append(dirs, "/sys/fs/cgroup"+path)
	}
	return dirs
}

// MakeCgroup creates a cgroup path in every hierarchy and removes it, with whatever was
// made below it, after the test: call it before starting what puts processes in it.
func MakeCgroup(t testing.TB, path string) {
	t.Helper()
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.procs"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/cgroup.procs")
	}
	for _, procs := range roots {
		if err := os.MkdirAll(filepath.Dir(procs)+path, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { RemoveCgroup(t, path) })
}

// RemoveCgroup removes a cgroup path and the cgroups below it, deepest first (a cgroup
// directory goes with rmdir only once empty of children).
func RemoveCgroup(t testing.TB, path string) {
	t.Helper()
	for _, root := range cgroupDirs(path) {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				t.Errorf("remove cgroup %s: %v", d, err)
			}
		}
	}
}

// CgroupExists reports whether the cgroup path is there in any hierarchy.
func CgroupExists(path string) bool {
	for _, d := range cgroupDirs(path) {
		if _, err := os.Stat(d); err == nil {
			return true
		}
	}
	return false
}
