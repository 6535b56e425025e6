package framework

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/dockercri/dockercri/core/pause"
)

// SuiteImage is one image a conformance suite pulls, by its repository path and tags,
// built here from Debian's packages (see ImageBuilder).
type SuiteImage struct {
	Repo    string
	Tags    []string
	RootFS  func(b *ImageBuilder) ([]byte, error)
	Changes []string
}

// PushSuiteImages builds every image, pushes it to reg through docker and removes
// it from docker again, so that the suite's pulls are real.
func PushSuiteImages(t *testing.T, docker *client.Client, reg *Registry, b *ImageBuilder, images []SuiteImage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, img := range images {
		rootfs, err := img.RootFS(b)
		if err != nil {
			t.Fatalf("build %s: %v", img.Repo, err)
		}
		changes := img.Changes
		if !slices.ContainsFunc(changes, func(c string) bool { return strings.HasPrefix(c, "CMD ") || strings.HasPrefix(c, "ENTRYPOINT ") }) {
			// FROM busybox: its command.
			changes = append(changes, `CMD ["sh"]`)
		}
		first := reg.Host + "/" + img.Repo + ":" + img.Tags[0]
		if _, err := ImportImage(ctx, docker, rootfs, first, changes...); err != nil {
			t.Fatal(err)
		}
		for _, tag := range img.Tags {
			ref := reg.Host + "/" + img.Repo + ":" + tag
			if err := docker.ImageTag(ctx, first, ref); err != nil {
				t.Fatal(err)
			}
			if err := PushImage(ctx, docker, ref, reg); err != nil {
				t.Fatal(err)
			}
		}
		if err := RemoveImageEverywhere(ctx, docker, first); err != nil {
			t.Fatal(err)
		}
	}
}

// CacheDir is <user cache>/dockercri/<name>, made if missing: it keeps what image builds
// fetch or compile across runs, outside the tree.
func CacheDir(t testing.TB, name string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "dockercri", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// PauseRootFS is dockercri's own pause program for this machine (the suites run their
// dockerd here), the suites' pause images.
func PauseRootFS(*ImageBuilder) ([]byte, error) { return pause.RootFS(runtime.GOARCH) }

// ImageBuilder makes the suites' root filesystems, keeping what it fetched or compiled
// in Dir (see CacheDir).
type ImageBuilder struct {
	Dir string
	// UpstreamBusybox makes the images' busybox one built from the source Debian ships,
	// as busybox releases it (see upstreamBusybox), for a suite that needs what the real
	// image's busybox does and Debian's does not.
	UpstreamBusybox bool
}

// accounts are lines added to the image's /etc/passwd and /etc/group.
type Accounts struct{ Passwd, Group string }

// Busybox is the root filesystem of the e2e busybox image: Debian's busybox (the
// dynamically linked one, whose shell runs every program through PATH as the image's
// does, where the static one runs its applets in-process) with every applet hard-linked
// into /bin, pgrep and ipcs from Debian's procps and util-linux (Debian builds busybox
// without them), and the accounts of the image's /etc/passwd and /etc/group.
func (b *ImageBuilder) Busybox(extra *Accounts) (*Layer, error) {
	passwd := "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
	group := "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nusers:x:100:\nnogroup:x:65534:\n"
	if extra != nil {
		passwd, group = passwd+extra.Passwd, group+extra.Group
	}
	l := NewLayer().Dir("dev").Dir("etc").Dir("proc").Dir("root").Dir("sys").Dir("tmp").Dir("var/www").
		File("etc/passwd", 0o644, []byte(passwd)).
		File("etc/group", 0o644, []byte(group))
	var busybox string
	var err error
	if b.UpstreamBusybox {
		busybox, err = b.upstreamBusybox()
	} else {
		busybox, err = b.DebianFile("busybox", "bin/busybox")
	}
	if err != nil {
		return nil, err
	}
	if err := AddWithLibraries(l, "bin/busybox", busybox); err != nil {
		return nil, err
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %v", err)
	}
	applets := strings.Fields(string(out))
	for _, p := range []struct{ pkg, path, name string }{
		{"procps", "usr/bin/pgrep", "pgrep"},
		{"util-linux", "usr/bin/ipcs", "ipcs"},
	} {
		if slices.Contains(applets, p.name) {
			continue
		}
		src, err := b.DebianFile(p.pkg, p.path)
		if err != nil {
			return nil, err
		}
		if err := AddWithLibraries(l, "bin/"+p.name, src); err != nil {
			return nil, err
		}
	}
	for _, a := range applets {
		if a != "busybox" {
			l.HardLink("bin/"+a, "bin/busybox")
		}
	}
	return l, nil
}

// upstreamBusybox is busybox built from the source Debian ships, its upstream tarball
// without Debian's patches (one of them has ash drop environment variables that are no
// shell names, "data-1", which the real image passes on), with busybox's default
// configuration, whose applets the real image has (nmeter, nc -u, …); built once into
// the builder's directory.
func (b *ImageBuilder) upstreamBusybox() (string, error) {
	dir := filepath.Join(b.Dir, "busybox-upstream")
	bin := filepath.Join(dir, "busybox")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	src := filepath.Join(dir, "src")
	if err := os.RemoveAll(src); err != nil {
		return "", err
	}
	if err := debianSource(src, "busybox"); err != nil {
		return "", err
	}
	tarballs, _ := filepath.Glob(filepath.Join(src, "busybox_*.orig.tar.*"))
	if len(tarballs) == 0 {
		return "", fmt.Errorf("Debian's busybox source has no upstream tarball in %s", src)
	}
	run := func(dir string, argv ...string) error {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, Tail(string(out), 20))
		}
		return nil
	}
	if err := run(src, "tar", "-xf", tarballs[0]); err != nil {
		return "", err
	}
	trees, _ := filepath.Glob(filepath.Join(src, "busybox-*"))
	if len(trees) != 1 {
		return "", fmt.Errorf("busybox's tarball made %v in %s", trees, src)
	}
	if err := run(trees[0], "make", "defconfig"); err != nil {
		return "", err
	}
	if err := run(trees[0], "make", fmt.Sprintf("-j%d", runtime.NumCPU()), "busybox"); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(trees[0], "busybox"), bin); err != nil {
		return "", err
	}
	return bin, os.RemoveAll(src)
}

// debianSource downloads the source package pkg into dir, from the source archives of
// the Debian mirrors this host's apt uses (its deb lines as deb-src, in apt state of
// dir's own: the host's apt configuration is not changed).
func debianSource(dir, pkg string) error {
	etc := filepath.Join(dir, "apt")
	for _, d := range []string{filepath.Join(etc, "parts"), filepath.Join(etc, "lists", "partial")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var lines []string
	if b, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "deb ") {
				lines = append(lines, "deb-src "+strings.TrimPrefix(strings.TrimSpace(l), "deb "))
			}
		}
	}
	if err := os.WriteFile(filepath.Join(etc, "sources.list"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	parts, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(string(b), "Types: deb\n", "Types: deb-src\n")
		if err := os.WriteFile(filepath.Join(etc, "parts", filepath.Base(p)), []byte(s), 0o644); err != nil {
			return err
		}
	}
	opts := []string{"-o", "Dir::Etc::SourceList=" + filepath.Join(etc, "sources.list"), "-o", "Dir::Etc::SourceParts=" + filepath.Join(etc, "parts"),
		"-o", "Dir::State::Lists=" + filepath.Join(etc, "lists"), "-o", "Debug::NoLocking=1"}
	for _, args := range [][]string{{"update", "-qq"}, {"source", "--download-only", pkg}} {
		cmd := exec.Command("apt-get", append(opts, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v: %s", strings.Join(args, " "), err, Tail(string(out), 20))
		}
	}
	return nil
}

// PlainBusybox is the e2e busybox image's root filesystem.
func (b *ImageBuilder) PlainBusybox() ([]byte, error) { return b.BusyboxWith(nil) }

// BusyboxWith is busybox with extra accounts and the files (or, ending in /,
// directories) named, empty.
func (b *ImageBuilder) BusyboxWith(extra *Accounts, names ...string) ([]byte, error) {
	l, err := b.Busybox(extra)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			l.Dir(name)
		} else {
			l.File(name, 0o644, nil)
		}
	}
	return l.Bytes()
}

// Nginx is busybox with Debian's nginx, serving a welcome page on port.
func (b *ImageBuilder) Nginx(port int) ([]byte, error) {
	bin, err := b.DebianFile("nginx", "usr/sbin/nginx")
	if err != nil {
		return nil, err
	}
	l, err := b.Busybox(nil)
	if err != nil {
		return nil, err
	}
	l.Dir("var/log/nginx").Dir("var/lib/nginx").Dir("run").Symlink("var/run", "/run").Dir("etc/nginx/conf.d")
	if err := AddWithLibraries(l, "usr/sbin/nginx", bin); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`user www-data;
worker_processes 1;
pid /var/run/nginx.pid;
error_log /dev/stderr notice;
events { worker_connections 256; }
http {
    access_log /dev/stdout;
    default_type text/html;
    server {
        listen %d;
        listen [::]:%d;
        location / { root /usr/share/nginx/html; index index.html; }
    }
}
`, port, port)
	return l.File("etc/nginx/nginx.conf", 0o644, []byte(conf)).
		File("usr/share/nginx/html/index.html", 0o644, []byte("<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>\n")).Bytes()
}

// DebianFile is path in Debian's package pkg, downloaded (not installed: nginx's
// would start a server on the node, busybox's would replace busybox-static) and
// unpacked into the builder's cache, <dir>/<pkg>.
func (b *ImageBuilder) DebianFile(pkg, path string) (string, error) {
	root := filepath.Join(b.Dir, pkg)
	file := filepath.Join(root, path)
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	debs := filepath.Join(b.Dir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "download", pkg)
		cmd.Dir = debs
		return cmd.CombinedOutput()
	}
	if out, err := download(); err != nil {
		// A machine whose package lists were never fetched knows no such package yet.
		if upd, uerr := exec.Command("apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
			return "", fmt.Errorf("apt-get download %s: %v: %s; apt-get update: %v: %s", pkg, err, out, uerr, upd)
		}
		if out, err := download(); err != nil {
			return "", fmt.Errorf("apt-get download %s: %v: %s", pkg, err, out)
		}
	}
	found, _ := filepath.Glob(filepath.Join(debs, pkg+"_*.deb"))
	if len(found) == 0 {
		return "", fmt.Errorf("apt-get download %s left no package in %s", pkg, debs)
	}
	if out, err := exec.Command("dpkg-deb", "-x", found[len(found)-1], root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %v: %s", found[len(found)-1], err, out)
	}
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("package %s has no %s", pkg, path)
	}
	return file, nil
}

// lddPath is a library path in ldd's output: "libz.so.1 => /lib/…/libz.so.1 (0x…)" or
// the loader's "/lib64/ld-linux-x86-64.so.2 (0x…)".
var lddPath = regexp.MustCompile(`(?m)(?:=>\s+|^\s+)(/\S+)\s+\(0x`)

// AddWithLibraries adds the host's dynamically linked program src as name, and every
// library it loads at the path the loader looks for it.
func AddWithLibraries(l *Layer, name, src string) error {
	out, err := exec.Command("ldd", src).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ldd %s: %v: %s", src, err, out)
	}
	if bytes.Contains(out, []byte("not found")) {
		return fmt.Errorf("ldd %s: a library is missing on this host:\n%s", src, out)
	}
	l.HostFile(name, src)
	for _, m := range lddPath.FindAllSubmatch(out, -1) {
		lib := string(m[1])
		l.HostFile(lib, lib)
	}
	return nil
}

// Httpd is busybox serving a page on port 80 with its own httpd, started the way the
// httpd image starts (httpd-foreground, announcing itself in the log).
func (b *ImageBuilder) Httpd() ([]byte, error) {
	start := "#!/bin/sh\necho \"httpd: serving /usr/local/apache2/htdocs on port 80\"\nexec httpd -f -v -p 80 -h /usr/local/apache2/htdocs\n"
	l, err := b.Busybox(nil)
	if err != nil {
		return nil, err
	}
	return l.File("usr/local/bin/httpd-foreground", 0o755, []byte(start)).
		Symlink("bin/httpd-foreground", "/usr/local/bin/httpd-foreground").
		File("usr/local/apache2/htdocs/index.html", 0o644, []byte("<html><body><h1>It works!</h1></body></html>\n")).Bytes()
}

// nnpSource is the nonewprivs image's program: set-user-ID root, it tells which user it
// runs as, which is root only when privilege escalation is allowed.
const nnpSource = `#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\n", geteuid()); return 0; }
`

// StaticC is the C program source compiled statically (gcc -Os), kept in the builder's
// directory as name.
func (b *ImageBuilder) StaticC(name, source string) ([]byte, error) {
	src, bin := filepath.Join(b.Dir, name+".c"), filepath.Join(b.Dir, name)
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command("gcc", "-static", "-Os", "-o", bin, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gcc %s.c: %v: %s", name, err, out)
	}
	return os.ReadFile(bin)
}

// Nonewprivs is busybox with nnp, set-user-ID root.
func (b *ImageBuilder) Nonewprivs() ([]byte, error) {
	prog, err := b.StaticC("nnp", nnpSource)
	if err != nil {
		return nil, err
	}
	l, err := b.Busybox(nil)
	if err != nil {
		return nil, err
	}
	return l.File("usr/local/bin/nnp", 0o4755, prog).Bytes()
}
