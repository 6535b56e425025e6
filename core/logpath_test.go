package core

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A container's log stays inside its sandbox's log directory: relative or escaping
// paths, and symlinks on the way, are InvalidArgument.
func TestContainerLogPath(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "f.log"), filepath.Join(dir, "file.log")); err != nil {
		t.Fatal(err)
	}
	if got, err := containerLogPath(dir, "web/0.log"); err != nil || got != filepath.Join(dir, "web", "0.log") {
		t.Errorf("the kubelet's layout: %q, %v", got, err)
	}
	for _, tc := range []struct{ dir, rel string }{
		{dir, "../../../../tmp/escape.log"},
		{dir, "web/../../escape.log"},
		{dir, "/tmp/abs.log"},
		{dir, "linked/0.log"},
		{dir, "file.log"},
		{dir, "."}, // the log directory itself
		{dir, "web/.."},
		{"../../tmp/x", "0.log"},
		{"relative/dir", "0.log"},
		{"/var/log/pods/../../tmp", "0.log"},
		{"", "0.log"},
	} {
		if _, err := containerLogPath(tc.dir, tc.rel); status.Code(err) != codes.InvalidArgument {
			t.Errorf("containerLogPath(%q, %q): %v, want InvalidArgument", tc.dir, tc.rel, err)
		}
	}
}
