//go:build nodee2e

package nodee2e

import (
	"os"
	"path/filepath"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// servedNames are the registries the suite pulls from (k8s.io/kubernetes/test/utils/image):
// the test's registry answers for them. The suite's invalid and private registries are
// not served, so pulls from them fail as the suite expects.
var servedNames = []string{"registry.k8s.io"}

// suiteImages are the images the NodeConformance specs run, each built the way its
// Dockerfile in k8s.io/kubernetes/test/images describes it: busybox as released; agnhost is the agnhost program of the pinned
// Kubernetes release, with its entrypoint, default command, accounts and directories,
// on that busybox (the real one is on Alpine; the suite uses agnhost's own commands and
// a shell).
func suiteImages() []framework.SuiteImage {
	const e2e = "e2e-test-images/"
	agnhost := func(b *framework.ImageBuilder, files ...string) ([]byte, error) {
		l, err := b.Busybox(&framework.Accounts{
			Passwd: "user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n",
			Group:  "user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n",
		})
		if err != nil {
			return nil, err
		}
		// The image's certificate for localhost, which agnhost's HTTPS servers present
		// (the real image carries one of its own; nobody checks who signed it).
		certDir := filepath.Join(b.Dir, "agnhost")
		if err := os.MkdirAll(certDir, 0o755); err != nil {
			return nil, err
		}
		cert, key, _, err := framework.ServingCert(certDir, "localhost")
		if err != nil {
			return nil, err
		}
		// The real image's bash, curl and OpenBSD nc (the suite's specs run them in
		// agnhost containers), nc ahead of busybox's in PATH.
		for _, p := range []struct{ pkg, path, name string }{
			{"bash", "bin/bash", "bin/bash"},
			{"curl", "usr/bin/curl", "usr/bin/curl"},
			{"netcat-openbsd", "bin/nc.openbsd", "usr/bin/nc"},
		} {
			src, err := b.DebianFile(p.pkg, p.path)
			if err != nil {
				return nil, err
			}
			if err := framework.AddWithLibraries(l, p.name, src); err != nil {
				return nil, err
			}
		}
		l.HostFile("agnhost", os.Getenv("AGNHOST_BIN")).Symlink("agnhost-2", "agnhost").Dir("uploads").Dir("home/user-defined-in-image").
			HostFile("localhost.crt", cert).HostFile("localhost.key", key)
		for _, f := range files {
			// kitten's and nautilus's pages: what they serve tells one from the other.
			l.File(f, 0o644, []byte(f+"\n"))
		}
		return l.Bytes()
	}
	agnhostImage := func(tag string) framework.SuiteImage {
		return framework.SuiteImage{Repo: e2e + "agnhost", Tags: []string{tag}, RootFS: func(b *framework.ImageBuilder) ([]byte, error) { return agnhost(b) },
			Changes: []string{`ENTRYPOINT ["/agnhost"]`, `CMD ["pause"]`, "EXPOSE 80 8080 8081 9376 5000"}}
	}
	webserver := func(repo, tag string, files ...string) framework.SuiteImage {
		return framework.SuiteImage{Repo: e2e + repo, Tags: []string{tag}, RootFS: func(b *framework.ImageBuilder) ([]byte, error) { return agnhost(b, files...) },
			Changes: []string{`ENTRYPOINT ["/agnhost"]`, `CMD ["test-webserver"]`, "EXPOSE 80"}}
	}
	nginx := func(tag string) framework.SuiteImage {
		return framework.SuiteImage{Repo: e2e + "nginx", Tags: []string{tag}, RootFS: func(b *framework.ImageBuilder) ([]byte, error) { return b.Nginx(80) },
			Changes: []string{`CMD ["nginx", "-g", "daemon off;"]`, "EXPOSE 80"}}
	}
	return []framework.SuiteImage{
		{Repo: e2e + "busybox", Tags: []string{"1.37.0-2"}, RootFS: busybox},
		// A shell and hostname on glibc (whose resolver the real image tests): Debian's
		// busybox is linked against it.
		{Repo: e2e + "glibc-dns-testing", Tags: []string{"2.1.1"}, RootFS: busybox},
		agnhostImage("2.66.1"),
		agnhostImage("2.55"),
		webserver("kitten", "1.8", "kitten.jpg", "data.json"),
		webserver("nautilus", "1.8", "nautilus.jpg", "data.json"),
		nginx("1.27.0-2"),
		nginx("1.28.0-2"),
		{Repo: e2e + "nonewprivs", Tags: []string{"1.4"}, RootFS: (*framework.ImageBuilder).Nonewprivs,
			Changes: []string{`CMD ["/usr/local/bin/nnp"]`}},
		{Repo: e2e + "nonroot", Tags: []string{"1.5"}, RootFS: busybox, Changes: []string{"USER 1234"}},
		{Repo: "pause", Tags: []string{"3.10.2"}, RootFS: framework.PauseRootFS, Changes: []string{`ENTRYPOINT ["/pause"]`}},
	}
}

// busybox is the e2e busybox image: busybox as it is released (see
// framework.ImageBuilder's UpstreamBusybox), as the real image is.
func busybox(b *framework.ImageBuilder) ([]byte, error) {
	l, err := b.Busybox(nil)
	if err != nil {
		return nil, err
	}
	return l.Bytes()
}
