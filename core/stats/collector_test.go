package stats

import (
	"strings"
	"testing"
)

const netDevHeader = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
`

func TestParseNetDev(t *testing.T) {
	nu := parseNetDev(strings.NewReader(netDevHeader+
		"    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n"+
		"  eth0:    1234      10    1    0    0     0          0         0     5678      20    2    0    0     0       0          0\n"), 7)
	if nu == nil || len(nu.Interfaces) != 1 || nu.DefaultInterface == nil || nu.DefaultInterface.Name != "eth0" {
		t.Fatalf("parsed %+v", nu)
	}
	d := nu.DefaultInterface
	if d.RxBytes.Value != 1234 || d.RxErrors.Value != 1 || d.TxBytes.Value != 5678 || d.TxErrors.Value != 2 || nu.Timestamp != 7 {
		t.Errorf("eth0 counters: %+v", d)
	}
}

// A pod with only loopback (its CNI interface not there yet, or none) has no network
// stats at all: the kubelet dereferences the default interface of any it gets.
func TestParseNetDevLoopbackOnly(t *testing.T) {
	if nu := parseNetDev(strings.NewReader(netDevHeader+
		"    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n"), 1); nu != nil {
		t.Errorf("loopback only: %+v, want nil", nu)
	}
}

// Without eth0 (another CNI interface name), the first interface is the default.
func TestParseNetDevOtherInterface(t *testing.T) {
	nu := parseNetDev(strings.NewReader(netDevHeader+
		"  net1:      10       1    0    0    0     0          0         0       20       2    0    0    0     0       0          0\n"), 1)
	if nu == nil || nu.DefaultInterface == nil || nu.DefaultInterface.Name != "net1" {
		t.Errorf("default interface of a pod without eth0: %+v", nu)
	}
}

// Docker's containerd image store reports no upper directory: it is read from the
// overlay the container's process has as root.
func TestRootUpperDir(t *testing.T) {
	mountinfo := `1208 1090 0:233 / / rw,relatime master:412 - overlay overlay rw,lowerdir=/var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/9/fs,upperdir=/var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs,workdir=/var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/12/work
1209 1208 0:237 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1210 1208 0:238 / /etc/hosts rw - overlay overlay rw,upperdir=/not/the/root
`
	if got, want := rootUpperDir(mountinfo), "/var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs"; got != want {
		t.Errorf("rootUpperDir = %q, want %q", got, want)
	}
	if got := rootUpperDir("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"); got != "" {
		t.Errorf("a root that is no overlay: %q", got)
	}
}
