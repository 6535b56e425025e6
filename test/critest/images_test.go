//go:build critest

package critest

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
	"github.com/dockercri/dockercri/test/e2e/framework"
)

// servedNames are the registries whose names the suite pulls from; the test's registry
// answers for all of them (the same repository path under each).
var servedNames = []string{"registry.k8s.io", "gcr.io", "k8s.gcr.io"}

// suiteImage is one image of the suite, by its repository path and tags, built here.
type suiteImage struct {
	repo    string
	tags    []string
	rootfs  func(b *builder) ([]byte, error)
	changes []string
}

// suiteImages are the images critest v1.36 pulls (pkg/validate/consts.go and
// pkg/framework), each built the way its Dockerfile in cri-tools' images/ or the
// Kubernetes e2e test images describes it, from Debian's busybox, Debian's nginx
// and tiny static C programs. test-image-digest is pulled by a digest of content that
// cannot be fetched here; it is built all the same, for its other uses.
func suiteImages() []suiteImage {
	const cri = "k8s-staging-cri-tools/"
	testImage := func(name string, tags ...string) suiteImage {
		return suiteImage{repo: cri + name, tags: tags, rootfs: func(b *builder) ([]byte, error) { return b.busyboxWith(nil, name) }}
	}
	user := func(name, user string) suiteImage {
		return suiteImage{repo: cri + name, tags: []string{"latest"}, rootfs: (*builder).plainBusybox, changes: []string{"USER " + user}}
	}
	return []suiteImage{
		{repo: "e2e-test-images/busybox", tags: []string{"1.29-2"}, rootfs: (*builder).plainBusybox},
		{repo: "e2e-test-images/nginx", tags: []string{"1.14-2"}, rootfs: func(b *builder) ([]byte, error) { return b.nginx(80) },
			changes: []string{`CMD ["nginx", "-g", "daemon off;"]`, "EXPOSE 80"}},
		{repo: cri + "hostnet-nginx-" + runtime.GOARCH, tags: []string{"latest"}, rootfs: func(b *builder) ([]byte, error) { return b.nginx(12003) },
			changes: []string{`CMD ["nginx", "-g", "daemon off;"]`}},
		{repo: "e2e-test-images/httpd", tags: []string{"2.4.39-4"}, rootfs: (*builder).httpd,
			changes: []string{`CMD ["httpd-foreground"]`, "EXPOSE 80"}},
		{repo: "e2e-test-images/nonewprivs", tags: []string{"1.3"}, rootfs: (*builder).nonewprivs,
			changes: []string{`ENTRYPOINT ["/usr/local/bin/nnp"]`}},
		user("test-image-user-uid", "1002"),
		user("test-image-user-username", "www-data"),
		user("test-image-user-uid-group", "1003:1004"),
		user("test-image-user-username-group", "www-data:1004"),
		{repo: cri + "test-image-predefined-group", tags: []string{"latest"}, rootfs: func(b *builder) ([]byte, error) {
			return b.busyboxWith(&accounts{
				passwd: "default-user:x:1000:1000::/home/default-user:/bin/sh\n",
				group:  "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n",
			}, "home/default-user/")
		}, changes: []string{"USER 1000"}},
		testImage("test-image-latest", "latest"),
		testImage("test-image-digest", "latest"),
		testImage("test-image-1", "latest"),
		testImage("test-image-2", "latest"),
		testImage("test-image-3", "latest"),
		testImage("test-image-tag", "test", "all"),
		{repo: cri + "test-image-tags", tags: []string{"1", "2", "3"}, rootfs: func(b *builder) ([]byte, error) { return b.busyboxWith(nil, "same-image") }},
		// dockercri's own pause program, also as the pod infra image dockercri pulls by
		// default (registry.k8s.io/pause:3.10); each tag is an image of its own, as the
		// real ones are (an import is dated, so two imports are two images).
		{repo: "pause", tags: []string{"3.9"}, rootfs: pauseRootFS, changes: []string{`ENTRYPOINT ["/pause"]`}},
		{repo: "pause", tags: []string{"3.10"}, rootfs: pauseRootFS, changes: []string{`ENTRYPOINT ["/pause"]`}},
	}
}

func pauseRootFS(*builder) ([]byte, error) { return pause.RootFS() }

// pushSuiteImages builds every suite image, pushes it to reg through docker and removes
// it from docker again, so that the suite's pulls are real.
func pushSuiteImages(t *testing.T, docker *client.Client, reg *framework.Registry, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b := &builder{dir: dir}
	for _, img := range suiteImages() {
		rootfs, err := img.rootfs(b)
		if err != nil {
			t.Fatalf("build %s: %v", img.repo, err)
		}
		changes := img.changes
		if !slices.ContainsFunc(changes, func(c string) bool { return strings.HasPrefix(c, "CMD ") || strings.HasPrefix(c, "ENTRYPOINT ") }) {
			// FROM busybox: its command.
			changes = append(changes, `CMD ["sh"]`)
		}
		first := reg.Host + "/" + img.repo + ":" + img.tags[0]
		if _, err := framework.ImportImage(ctx, docker, rootfs, first, changes...); err != nil {
			t.Fatal(err)
		}
		for _, tag := range img.tags {
			ref := reg.Host + "/" + img.repo + ":" + tag
			if err := docker.ImageTag(ctx, first, ref); err != nil {
				t.Fatal(err)
			}
			if err := framework.PushImage(ctx, docker, ref, reg); err != nil {
				t.Fatal(err)
			}
		}
		if err := framework.RemoveImageEverywhere(ctx, docker, first); err != nil {
			t.Fatal(err)
		}
	}
}

// builder makes the suite's root filesystems, keeping what it fetched or compiled in dir.
type builder struct{ dir string }

// accounts are lines added to the image's /etc/passwd and /etc/group.
type accounts struct{ passwd, group string }

// busybox is the root filesystem of the e2e busybox image: Debian's busybox (the
// dynamically linked one, whose shell runs every program through PATH as the image's
// does, where the static one runs its applets in-process) with every applet hard-linked
// into /bin, pgrep and ipcs from Debian's procps and util-linux (Debian builds busybox
// without them), and the accounts of the image's /etc/passwd and /etc/group.
func (b *builder) busybox(extra *accounts) (*framework.Layer, error) {
	passwd := "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
	group := "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nusers:x:100:\nnogroup:x:65534:\n"
	if extra != nil {
		passwd, group = passwd+extra.passwd, group+extra.group
	}
	l := framework.NewLayer().Dir("dev").Dir("etc").Dir("proc").Dir("root").Dir("sys").Dir("tmp").Dir("var/www").
		File("etc/passwd", 0o644, []byte(passwd)).
		File("etc/group", 0o644, []byte(group))
	for _, p := range []struct{ pkg, path, name string }{
		{"busybox", "bin/busybox", "bin/busybox"},
		{"procps", "usr/bin/pgrep", "bin/pgrep"},
		{"util-linux", "usr/bin/ipcs", "bin/ipcs"},
	} {
		src, err := b.debianFile(p.pkg, p.path)
		if err != nil {
			return nil, err
		}
		if err := addWithLibraries(l, p.name, src); err != nil {
			return nil, err
		}
	}
	out, err := exec.Command(filepath.Join(b.dir, "busybox", "bin", "busybox"), "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %v", err)
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			l.HardLink("bin/"+a, "bin/busybox")
		}
	}
	return l, nil
}

func (b *builder) plainBusybox() ([]byte, error) { return b.busyboxWith(nil) }

// busyboxWith is busybox with extra accounts and the files (or, ending in /,
// directories) named, empty.
func (b *builder) busyboxWith(extra *accounts, names ...string) ([]byte, error) {
	l, err := b.busybox(extra)
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

// nginx is busybox with Debian's nginx, serving a welcome page on port.
func (b *builder) nginx(port int) ([]byte, error) {
	bin, err := b.debianFile("nginx", "usr/sbin/nginx")
	if err != nil {
		return nil, err
	}
	l, err := b.busybox(nil)
	if err != nil {
		return nil, err
	}
	l.Dir("var/log/nginx").Dir("var/lib/nginx").Dir("run").Symlink("var/run", "/run").Dir("etc/nginx/conf.d")
	if err := addWithLibraries(l, "usr/sbin/nginx", bin); err != nil {
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

// debianFile is path in Debian's package pkg, downloaded (not installed: nginx's
// would start a server on the node, busybox's would replace busybox-static) and
// unpacked into the builder's cache, <dir>/<pkg>.
func (b *builder) debianFile(pkg, path string) (string, error) {
	root := filepath.Join(b.dir, pkg)
	file := filepath.Join(root, path)
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	debs := filepath.Join(b.dir, "debs")
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

// addWithLibraries adds the host's dynamically linked program src as name, and every
// library it loads at the path the loader looks for it.
func addWithLibraries(l *framework.Layer, name, src string) error {
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

// httpd is busybox serving a page on port 80 with its own httpd, started the way the
// httpd image starts (httpd-foreground, announcing itself in the log).
func (b *builder) httpd() ([]byte, error) {
	start := "#!/bin/sh\necho \"httpd: serving /usr/local/apache2/htdocs on port 80\"\nexec httpd -f -v -p 80 -h /usr/local/apache2/htdocs\n"
	l, err := b.busybox(nil)
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

func (b *builder) nonewprivs() ([]byte, error) {
	src, bin := filepath.Join(b.dir, "nnp.c"), filepath.Join(b.dir, "nnp")
	if err := os.WriteFile(src, []byte(nnpSource), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command("gcc", "-static", "-Os", "-o", bin, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gcc nnp.c: %v: %s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	l, err := b.busybox(nil)
	if err != nil {
		return nil, err
	}
	return l.File("usr/local/bin/nnp", 0o4755, prog).Bytes()
}
