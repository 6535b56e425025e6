//go:build e2e

package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Socket activation: dockercri serves on the socket systemd passes (and leaves it in
// place when it stops, for systemd owns it), and tells systemd when it is ready.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	d := env.NewDockercri(t)
	l, err := net.Listen("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	ul := l.(*net.UnixListener)
	lf, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close() // the file keeps the socket open; dockercri gets it as fd 3
	defer lf.Close()
	notifyPath := filepath.Join(d.Dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	if err := d.StartActivated(lf, notifyPath); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime(t).Version(ctx(t), ""); err != nil {
		t.Fatalf("Version on the activated socket: %v", err)
	}
	_ = notify.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	n, err := notify.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
		t.Errorf("no READY=1 on NOTIFY_SOCKET: %q, %v", buf[:n], err)
	}
	if strings.Contains(d.Log(), "stale socket") {
		t.Errorf("dockercri touched the activated socket:\n%s", d.Log())
	}
	if err := d.Process().Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Socket); err != nil {
		t.Errorf("dockercri removed the socket systemd owns: %v", err)
	}
}

// make deb builds a package that installs, whose units systemd accepts, and that
// removes cleanly.
func TestDebPackage(t *testing.T) {
	if st, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "dockercri").Output(); strings.Contains(string(st), " installed") {
		t.Skip("probe: a dockercri package is installed on this machine; not replacing it")
	}
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := env.TempDir(t, "deb")
	if b, err := exec.Command("make", "-C", root, "deb", "DEBOUT="+out).CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "dockercri_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("packages built: %v", debs)
	}
	contents, err := exec.Command("dpkg-deb", "--contents", debs[0]).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"./usr/bin/dockercri", "./lib/systemd/system/dockercri.service", "./lib/systemd/system/dockercri.socket", "./usr/share/man/man8/dockercri.8.gz", "./etc/cni/net.d/"} {
		if !strings.Contains(string(contents), f) {
			t.Errorf("package lacks %s", f)
		}
	}
	if b, err := exec.Command("dpkg", "-i", debs[0]).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, b)
	}
	t.Cleanup(func() {
		if b, err := exec.Command("dpkg", "--purge", "dockercri").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, b)
		}
		if _, err := os.Stat("/usr/bin/dockercri"); !os.IsNotExist(err) {
			t.Errorf("/usr/bin/dockercri left after removal: %v", err)
		}
	})
	if b, err := exec.Command("systemd-analyze", "verify", "/lib/systemd/system/dockercri.socket", "/lib/systemd/system/dockercri.service").CombinedOutput(); err != nil || len(b) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, b)
	}
	if b, err := exec.Command("/usr/bin/dockercri", "version").CombinedOutput(); err != nil || !strings.Contains(string(b), "CRI API") {
		t.Errorf("installed dockercri version: %v\n%s", err, b)
	}
}
