package crilog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// The log is never opened through a symlink at its path, to a file or to none: the
// file it links to stays as it was, and none is created.
func TestOpenDoesNotFollowSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "docker-json.log")
	const content = `{"log":"hi\n","stream":"stdout","time":"2026-01-02T03:04:05Z"}` + "\n"
	if err := os.WriteFile(target, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(dir, "linked.log")
	dangling := filepath.Join(dir, "dangling.log")
	missing := filepath.Join(dir, "missing")
	for link, to := range map[string]string{linked: target, dangling: missing} {
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
	}
	opens := map[string]func(string) error{
		"createLog": createLog,
		"openExclusive(O_WRONLY)": func(p string) error {
			f, err := openExclusive(p, os.O_WRONLY)
			if err == nil {
				f.Close()
			}
			return err
		},
		"openExclusive(O_RDWR)": func(p string) error {
			f, err := openExclusive(p, os.O_RDWR)
			if err == nil {
				f.Close()
			}
			return err
		},
	}
	for name, open := range opens {
		for _, link := range []string{linked, dangling} {
			if err := open(link); !errors.Is(err, ErrSymlink) {
				t.Errorf("%s(%s): %v, want ErrSymlink", name, filepath.Base(link), err)
			}
		}
	}
	if got, err := os.ReadFile(target); err != nil || string(got) != content {
		t.Errorf("the file linked to: %q, %v", got, err)
	}
	if _, err := os.Lstat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dangling link's target was created: %v", err)
	}
	// A plain file, or none, is opened as before.
	plain := filepath.Join(dir, "plain.log")
	for name, open := range opens {
		if err := open(plain); err != nil {
			t.Errorf("%s of a plain file: %v", name, err)
		}
	}
}

// A container's log path that links to Docker's json-file of it (cri-dockerd's and
// dockershim's layout), running or exited: nothing copies it, Docker's file is never
// written, WaitCopied does not wait, Reopen refuses (also while the kubelet has renamed
// the link away to rotate it), and the link stays.
func TestDockerLogLinkIsNotCopied(t *testing.T) {
	for _, exited := range []bool{false, true} {
		d := newDockerLog(t, "c1", 0, 0)
		d.printLines(20)
		before, err := os.ReadFile(d.path)
		if err != nil {
			t.Fatal(err)
		}
		m := newTailManager(t, t.TempDir())
		// Docker's logs API serves the same records, for a copier to find.
		docker := m.docker.(*fakeDocker)
		docker.RunContainer(d.id, false)
		docker.AddLogs(d.id, d.printed...)
		if exited {
			docker.Exit(d.id, 0)
		}
		path := filepath.Join(t.TempDir(), "0.log")
		if err := os.Symlink(d.path, path); err != nil {
			t.Fatal(err)
		}
		c := d.container(path)
		if !exited {
			m.Start(c) // resumeLogs, after a restart
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.WaitCopied(ctx, c); err != nil {
			t.Errorf("exited %v: WaitCopied: %v", exited, err)
		}
		cancel()
		if err := m.Reopen(c.ID); !errors.Is(err, ErrDockerLog) {
			t.Errorf("exited %v: Reopen: %v, want ErrDockerLog", exited, err)
		}
		// The kubelet's rotation: the link renamed, Reopen, the link renamed back on
		// its error. Nothing is made at the path meanwhile, by Reopen or by Start.
		rotated := path + ".20260102-030405"
		if err := os.Rename(path, rotated); err != nil {
			t.Fatal(err)
		}
		if err := m.Reopen(c.ID); !errors.Is(err, ErrDockerLog) {
			t.Errorf("exited %v: Reopen of the renamed link: %v, want ErrDockerLog", exited, err)
		}
		m.Start(c)
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("exited %v: a file was made at the log path while its link was renamed: %v", exited, err)
		}
		if err := os.Rename(rotated, path); err != nil {
			t.Fatal(err)
		}
		m.mu.Lock()
		copying := len(m.tailers) + len(m.copiers)
		m.mu.Unlock()
		if copying != 0 {
			t.Errorf("exited %v: %d tailers and copiers", exited, copying)
		}
		if after, err := os.ReadFile(d.path); err != nil || !bytes.Equal(after, before) {
			t.Errorf("exited %v: Docker's file changed (%d bytes, was %d): %v", exited, len(after), len(before), err)
		}
		if to, err := os.Readlink(path); err != nil || to != d.path {
			t.Errorf("exited %v: the log path links to %q (%v), want %s", exited, to, err, d.path)
		}
		// Removed: the container is forgotten.
		m.Stop(c.ID)
		if err := m.Reopen(c.ID); !errors.Is(err, ErrNoCopier) {
			t.Errorf("exited %v: Reopen after Stop: %v, want ErrNoCopier", exited, err)
		}
	}
}

// A log path that links elsewhere than Docker's file of the container: not followed,
// the file it links to untouched, an error for that container logged once.
func TestForeignLogLinkIsRefused(t *testing.T) {
	logs := captureKlog(t)
	d := newDockerLog(t, "c1", 0, 0)
	d.printLines(5)
	m := newTailManager(t, t.TempDir())
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "0.log")
	if err := os.Symlink(other, path); err != nil {
		t.Fatal(err)
	}
	c := d.container(path)
	m.Start(c)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.WaitCopied(ctx, c); !errors.Is(err, ErrSymlink) {
			t.Errorf("WaitCopied: %v, want ErrSymlink", err)
		}
		cancel()
	}
	if err := m.Reopen(c.ID); !errors.Is(err, ErrSymlink) {
		t.Errorf("Reopen: %v, want ErrSymlink", err)
	}
	if got, err := os.ReadFile(other); err != nil || string(got) != "precious\n" {
		t.Errorf("the file linked to: %q, %v", got, err)
	}
	klog.Flush()
	if n := strings.Count(logs.String(), "Not copying the container's output to its log"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, logs)
	}
}

// A symlink put at the log path of a container being copied, as the kubelet renamed
// its log to rotate it: Reopen refuses to open it, and the copying goes on into the
// log it had open (which the kubelet, told of the error, renames back).
func TestReopenDoesNotFollowSymlink(t *testing.T) {
	d := newDockerLog(t, "c1", 0, 0)
	m, _, path := startTail(t, d, 3)
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, path); err != nil {
		t.Fatal(err)
	}
	if err := m.Reopen("c1"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Reopen onto a symlink: %v, want ErrSymlink", err)
	}
	d.printLines(3)
	waitTailed(t, m, d.container(path))
	if st, err := os.Stat(other); err != nil || st.Size() != 0 {
		t.Errorf("the file linked to was written: %v", err)
	}
	checkLines(t, readLines(t, rotated), d.want())
}
