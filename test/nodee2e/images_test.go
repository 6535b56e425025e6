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
// Dockerfile in k8s.io/kubernetes/test/images describes it: busybox is Debian's (see
// framework.ImageBuilder) with nmeter; agnhost is the agnhost program of the pinned
// Kubernetes release, with its entrypoint, default command, accounts and directories,
// on that busybox (the real one is on Alpine; the suite uses agnhost's own commands and
// a shell).
func suiteImages() []framework.SuiteImage {
	const e2e = "e2e-test-images/"
	agnhost := func(b *framework.ImageBuilder, files ...string) ([]byte, error) {
		l, err := busyboxLayer(b, &framework.Accounts{
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

// busybox is the e2e busybox image.
func busybox(b *framework.ImageBuilder) ([]byte, error) {
	l, err := busyboxLayer(b, nil)
	if err != nil {
		return nil, err
	}
	return l.Bytes()
}

// busyboxLayer is Debian's busybox, which has no nmeter, with an nmeter for the one use
// the suite makes of it: the time with milliseconds that the Containers Lifecycle specs
// log, `nmeter -d0 '%3t'`, in busybox and agnhost containers alike.
func busyboxLayer(b *framework.ImageBuilder, extra *framework.Accounts) (*framework.Layer, error) {
	nmeter, err := b.StaticC("nmeter", nmeterSource)
	if err != nil {
		return nil, err
	}
	l, err := b.Busybox(extra)
	if err != nil {
		return nil, err
	}
	return l.File("bin/nmeter", 0o755, nmeter), nil
}

// nmeterSource prints FORMAT's text with each %[N]t as the local time with N decimals,
// a line every -dMSEC (0: at once, again and again), as busybox's nmeter does for %t;
// any other conversion is refused, not guessed.
const nmeterSource = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long delay = 1000;
	const char *format = NULL;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "-d", 2) == 0)
			delay = atol(argv[i][2] ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : "1000"));
		else
			format = argv[i];
	}
	if (format == NULL) {
		fprintf(stderr, "usage: nmeter [-dMSEC] FORMAT\n");
		return 1;
	}
	for (;;) {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		for (const char *p = format; *p; p++) {
			if (*p != '%') {
				putchar(*p);
				continue;
			}
			int digits = 0;
			while (p[1] >= '0' && p[1] <= '9')
				digits = digits * 10 + (*++p - '0');
			p++;
			if (*p == '%') {
				putchar('%');
			} else if (*p == 't') {
				printf("%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
				if (digits > 6)
					digits = 6;
				if (digits > 0) {
					long frac = tv.tv_usec;
					for (int k = 6; k > digits; k--)
						frac /= 10;
					printf(".%0*ld", digits, frac);
				}
			} else {
				fprintf(stderr, "nmeter: only %%t is built in\n");
				return 1;
			}
		}
		putchar('\n');
		if (fflush(stdout) != 0)
			return 0;
		if (delay > 0)
			usleep(delay * 1000);
	}
}
`
