package core

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A pin is the namespace it was taken of, replaces a pin before it, and goes whole.
func TestPinNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("pinning a network namespace takes a bind mount: run as root")
	}
	path := filepath.Join(t.TempDir(), "netns", "sb1")
	t.Cleanup(func() { _ = unpinNetNS(path) })
	for range 2 {
		if err := pinNetNS(path, os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if !pinned(path) {
		t.Fatal("no namespace at the pin")
	}
	var own, pin unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &own); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(path, &pin); err != nil || pin.Ino != own.Ino || pin.Dev != own.Dev {
		t.Fatalf("the pin is not this process's network namespace: %v", err)
	}
	for range 2 {
		if err := unpinNetNS(path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) || pinned(path) {
		t.Errorf("pin left after unpinning: %v", err)
	}
	if err := pinNetNS(path, 1<<22+1); err == nil {
		t.Error("pinned the namespace of a process that does not exist")
	} else if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("a failed pin left its file: %v", err)
	}
}
