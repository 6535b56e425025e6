//go:build critest

package critest

import (
	"runtime"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// servedNames are the registries whose names the suite pulls from; the test's registry
// answers for all of them (the same repository path under each).
var servedNames = []string{"registry.k8s.io", "gcr.io", "k8s.gcr.io"}

// suiteImages are the images critest v1.36 pulls (pkg/validate/consts.go and
// pkg/framework), each built the way its Dockerfile in cri-tools' images/ or the
// Kubernetes e2e test images describes it, from Debian's busybox, Debian's nginx
// and tiny static C programs. test-image-digest is pulled by a digest of content that
// cannot be fetched here; it is built all the same, for its other uses.
func suiteImages() []framework.SuiteImage {
	const cri = "k8s-staging-cri-tools/"
	testImage := func(name string, tags ...string) framework.SuiteImage {
		return framework.SuiteImage{Repo: cri + name, Tags: tags, RootFS: func(b *framework.ImageBuilder) ([]byte, error) { return b.BusyboxWith(nil, name) }}
	}
	user := func(name, user string) framework.SuiteImage {
		return framework.SuiteImage{Repo: cri + name, Tags: []string{"latest"}, RootFS: (*framework.ImageBuilder).PlainBusybox, Changes: []string{"USER " + user}}
	}
	return []framework.SuiteImage{
		{Repo: "e2e-test-images/busybox", Tags: []string{"1.29-2"}, RootFS: (*framework.ImageBuilder).PlainBusybox},
		{Repo: "e2e-test-images/nginx", Tags: []string{"1.14-2"}, RootFS: func(b *framework.ImageBuilder) ([]byte, error) { return b.Nginx(80) },
			Changes: []string{`CMD ["nginx", "-g", "daemon off;"]`, "EXPOSE 80"}},
		{Repo: cri + "hostnet-nginx-" + runtime.GOARCH, Tags: []string{"latest"}, RootFS: func(b *framework.ImageBuilder) ([]byte, error) { return b.Nginx(12003) },
			Changes: []string{`CMD ["nginx", "-g", "daemon off;"]`}},
		{Repo: "e2e-test-images/httpd", Tags: []string{"2.4.39-4"}, RootFS: (*framework.ImageBuilder).Httpd,
			Changes: []string{`CMD ["httpd-foreground"]`, "EXPOSE 80"}},
		{Repo: "e2e-test-images/nonewprivs", Tags: []string{"1.3"}, RootFS: (*framework.ImageBuilder).Nonewprivs,
			Changes: []string{`ENTRYPOINT ["/usr/local/bin/nnp"]`}},
		user("test-image-user-uid", "1002"),
		user("test-image-user-username", "www-data"),
		user("test-image-user-uid-group", "1003:1004"),
		user("test-image-user-username-group", "www-data:1004"),
		{Repo: cri + "test-image-predefined-group", Tags: []string{"latest"}, RootFS: func(b *framework.ImageBuilder) ([]byte, error) {
			return b.BusyboxWith(&framework.Accounts{
				Passwd: "default-user:x:1000:1000::/home/default-user:/bin/sh\n",
				Group:  "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n",
			}, "home/default-user/")
		}, Changes: []string{"USER 1000"}},
		testImage("test-image-latest", "latest"),
		testImage("test-image-digest", "latest"),
		testImage("test-image-1", "latest"),
		testImage("test-image-2", "latest"),
		testImage("test-image-3", "latest"),
		testImage("test-image-tag", "test", "all"),
		{Repo: cri + "test-image-tags", Tags: []string{"1", "2", "3"}, RootFS: func(b *framework.ImageBuilder) ([]byte, error) { return b.BusyboxWith(nil, "same-image") }},
		// dockercri's own pause program, also as the pod infra image dockercri pulls by
		// default (registry.k8s.io/pause:3.10); each tag is an image of its own, as the
		// real ones are (an import is dated, so two imports are two images).
		{Repo: "pause", Tags: []string{"3.9"}, RootFS: framework.PauseRootFS, Changes: []string{`ENTRYPOINT ["/pause"]`}},
		{Repo: "pause", Tags: []string{"3.10"}, RootFS: framework.PauseRootFS, Changes: []string{`ENTRYPOINT ["/pause"]`}},
	}
}
