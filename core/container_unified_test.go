package core

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// What the kubelet sends for every container on a cgroup v2 node.
var kubeletUnified = map[string]string{"memory.low": "0", "memory.min": "0", "memory.oom.group": "1", "memory.swap.max": "0"}

func TestCheckUnified(t *testing.T) {
	if err := checkUnified(kubeletUnified, true); err != nil {
		t.Errorf("the kubelet's unified resources on cgroup v2: %v", err)
	}
	if err := checkUnified(kubeletUnified, false); status.Code(err) != codes.InvalidArgument {
		t.Errorf("on cgroup v1: %v, want InvalidArgument", err)
	}
	for _, k := range []string{"../../memory.max", "memory", ".max", "memory/../../x", "cgroup.procs", "cgroup.subtree_control"} {
		if err := checkUnified(map[string]string{k: "1"}, true); status.Code(err) != codes.InvalidArgument {
			t.Errorf("key %q: %v, want InvalidArgument", k, err)
		}
	}
}

func TestWriteUnified(t *testing.T) {
	dir := t.TempDir()
	for k := range kubeletUnified {
		if err := os.WriteFile(filepath.Join(dir, k), []byte("max\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeUnified(dir, kubeletUnified); err != nil {
		t.Fatal(err)
	}
	for k, v := range kubeletUnified {
		if b, _ := os.ReadFile(filepath.Join(dir, k)); string(b) != v {
			t.Errorf("%s = %q, want %q", k, b, v)
		}
	}
	// A file the kernel lacks is an error, and is not made.
	if err := writeUnified(dir, map[string]string{"hugetlb.1GB.max": "0"}); err == nil {
		t.Error("a missing cgroup file was written")
	}
	if _, err := os.Stat(filepath.Join(dir, "hugetlb.1GB.max")); !os.IsNotExist(err) {
		t.Errorf("a missing cgroup file was created: %v", err)
	}
}

func TestUnifiedLabelInternal(t *testing.T) {
	labels, _ := criLabels(map[string]string{labelUnified: "{}", "app": "x"})
	if _, ok := labels[labelUnified]; ok || labels["app"] != "x" {
		t.Errorf("CRI labels %v", labels)
	}
}
