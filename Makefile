# dockercri: a CRI server for Docker Engine.
#   make run    build, make sure Docker runs, and serve on /run/dockercri.sock (ARGS= adds flags)
#   make test   unit tests, then the end-to-end suite against real Docker (as root)
#   make test-full   make test with the whole node e2e and the e2e on Docker 29's classic store too
#   make fuzz   each fuzz target for FUZZTIME (a failing input lands in testdata/fuzz)
#   make e2e-node-vm   the node suite in a VM: cgroup v2, systemd, the .deb (as root)
#   make critest   the CRI validation suite (cri-tools' critest) against dockercri (as root)
#   make crictl    crictl of the same cri-tools release, in bin/
#   make e2e-node  the Kubernetes node e2e (NodeConformance) on the real kubelet and dockercri (as root)
#   make install / make deb   install on this node / build a Debian package in bin/

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.gitCommit=$(COMMIT)
# TAGS: grpcnotrace leaves out gRPC's golang.org/x/net/trace (and html/template), which
# dockercri never turns on (grpc.EnableTracing) but which would be resident in it.
TAGS    := grpcnotrace
BIN     := bin/dockercri
ARGS    ?=
PREFIX  ?= /usr
DESTDIR ?=
# A Debian version must start with a digit.
DEBVERSION ?= 0.1.0+git$(shell git rev-parse --short HEAD 2>/dev/null || echo 0)
DEBARCH ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEBOUT  ?= bin
DEBROOT  = $(abspath $(DEBOUT))/debroot
# DEBGOARCH is Go's name of DEBARCH (the same but for these). A package for another
# architecture than this machine's holds a binary cross-compiled without cgo, DEBBIN; its
# man pages come from this machine's binary, which install runs.
DEBGOARCH = $(or $(DEBGOARCH_$(DEBARCH)),$(DEBARCH))
DEBGOARCH_i386    = 386
DEBGOARCH_armhf   = arm
DEBGOARCH_ppc64el = ppc64le
DEBBIN = $(if $(filter $(DEBGOARCH),$(shell $(GO) env GOARCH)),$(BIN),$(BIN)-linux-$(DEBGOARCH))
# INSTALLBIN is the binary install installs.
INSTALLBIN ?= $(BIN)

.PHONY: all build run test test-full unit fuzz e2e e2e-kubelet e2e-node-vm kubelet kubelet-dockershim cri-dockerd critest critest-bin crictl e2e-node e2e-node-bin bench vet fmt clean install deb

all: build

# build: without cgo, which nothing of dockercri needs (only the standard library's net
# and os/user would use it, and both have Go versions): a static binary maps no libc
# and ld.so, 1.5 MB of RSS.
build:
	CGO_ENABLED=0 $(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dockercri

run: build
	hack/ensure-docker.sh
	$(BIN) $(ARGS)

# DOCKER is the Docker Engine the suites run on: 20.10, the node's (Debian 12's docker.io),
# or 29, built from the Go module proxy by hack/build-engine.sh into a cache outside the
# tree (a few minutes the first time) and run by the tests as dockerds of their own.
# STORE is its image store: classic, or containerd (Docker 29's default).
DOCKER ?= 20.10
STORE  ?=
ENGINE_ENV = $(if $(filter-out 20.10,$(DOCKER)),engine=$$(hack/build-engine.sh $(DOCKER)) && export DOCKERCRI_ENGINE_BIN=$$engine DOCKERCRI_IMAGE_STORE=$(STORE) &&)

# test: every suite, one stage after another, with each stage's time.
test:
	@MAKE=$(MAKE) hack/stages.sh vet unit fuzz e2e "e2e DOCKER=29 STORE=containerd" critest "critest DOCKER=29 STORE=classic" \
		"critest DOCKER=29 STORE=containerd" e2e-kubelet e2e-node-vm "e2e-node NODE_E2E_FOCUS_FILE=test/nodee2e/ci-focus.txt"

# test-full: every suite whole, for an issue's resolution (CI runs make test, which fits its time).
test-full:
	@MAKE=$(MAKE) hack/stages.sh vet unit fuzz e2e "e2e DOCKER=29 STORE=containerd" "e2e DOCKER=29 STORE=classic" critest \
		"critest DOCKER=29 STORE=classic" "critest DOCKER=29 STORE=containerd" e2e-kubelet e2e-node-vm e2e-node

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags "$(TAGS) genman" ./cmd/dockercri
	$(GO) vet -tags e2e ./test/... ./core/crilog/...
	$(GO) vet -tags bench ./test/bench/...
	$(GO) vet -tags kubelet ./test/kubelet/...
	$(GO) vet -tags critest ./test/critest/...
	$(GO) vet -tags nodee2e ./test/nodee2e/...
	$(GO) vet -tags vm ./test/vm/...

unit:
	hack/ensure-deps.sh unit
	$(GO) test -count=1 ./...

# fuzz: each fuzz target for FUZZTIME (the request translation of core, image names,
# pull streams and credentials of core/images, Docker's log stream of core/crilog); a
# failing input lands in the package's testdata/fuzz, which `make unit` runs from then on.
# FUZZFLAGS are more flags of the test binaries (FUZZFLAGS=-test.parallel=1: one worker).
FUZZTIME  ?= 6s
FUZZFLAGS ?=
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZFLAGS='$(FUZZFLAGS)' hack/fuzz.sh

# e2e: the end-to-end suite (test/e2e), then core/crilog's tests of the logs-API copier
# against the same Docker Engine (TestDocker*; the package's other tests are make unit's).
e2e: build
	$(ENGINE_ENV) DOCKERCRI_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -tags e2e -timeout 30m ./test/e2e/...
	$(ENGINE_ENV) $(GO) test -count=1 -tags e2e -timeout 10m -run '^TestDocker' ./core/crilog/

# kubelet: the kubelet of the Kubernetes release hack/kubelet/go.mod pins, built from the
# Go module proxy (a few minutes the first time, then from Go's build cache).
KUBELET         := bin/kubelet
KUBELET_VERSION  = $(shell cd hack/kubelet && $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes)
kubelet:
	cd hack/kubelet && $(GO) build -o $(CURDIR)/$(KUBELET) -ldflags "-X k8s.io/component-base/version.gitVersion=$(KUBELET_VERSION) -X k8s.io/component-base/version.gitTreeState=clean" k8s.io/kubernetes/cmd/kubelet

# cri-dockerd: cri-dockerd of the release hack/cri-dockerd/go.mod pins, unmodified, built
# from the Go module proxy with its own replace directives: the old CRI server the VM
# suite's migration scenario moves a node from.
CRI_DOCKERD         := bin/cri-dockerd
CRI_DOCKERD_VERSION  = $(shell cd hack/cri-dockerd && $(GO) list -m -f '{{.Version}}' github.com/Mirantis/cri-dockerd)
cri-dockerd:
	cd hack/cri-dockerd && $(GO) build -o $(CURDIR)/$(CRI_DOCKERD) -ldflags "-X github.com/Mirantis/cri-dockerd/cmd/version.Version=$(CRI_DOCKERD_VERSION:v%=%)" github.com/Mirantis/cri-dockerd

# kubelet-dockershim: the last kubelet with dockershim built in (Kubernetes 1.23, the release
# hack/kubelet-dockershim/go.mod pins, from the Go module proxy): the old runtime the node VM
# moves a node from to dockercri (test/vm/dockershim_test.go).
KUBELET_DOCKERSHIM         := bin/kubelet-dockershim
KUBELET_DOCKERSHIM_VERSION  = $(shell cd hack/kubelet-dockershim && $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes)
kubelet-dockershim:
	cd hack/kubelet-dockershim && $(GO) build -o $(CURDIR)/$(KUBELET_DOCKERSHIM) -ldflags "-X k8s.io/component-base/version.gitVersion=$(KUBELET_DOCKERSHIM_VERSION) -X k8s.io/component-base/version.gitTreeState=clean" k8s.io/kubernetes/cmd/kubelet

# e2e-kubelet: the real kubelet, standalone, on dockercri (test/kubelet).
e2e-kubelet: build kubelet
	$(ENGINE_ENV) DOCKERCRI_BIN=$(CURDIR)/$(BIN) KUBELET_BIN=$(CURDIR)/$(KUBELET) $(GO) test -count=1 -tags kubelet -timeout 30m -v ./test/kubelet/...

# e2e-node-vm: a real node in a VM (qemu, software emulation): Debian 12 on cgroup v2 with
# systemd as init and Docker on the systemd cgroup driver, as kubeadm sets a node up.
# hack/vm/image.sh builds its disk once into ~/.cache/dockercri (a few minutes); each run
# boots it afresh and runs test/vm in it, which installs this tree's .deb (and upgrades to
# a newer build of it, dockercri-next.deb) and runs the kubelet on it, first moving a node
# from cri-dockerd to it. VM_TIMEOUT bounds the whole run (boot, tests, power-off), in
# seconds; VM_RUN=regexp runs only those tests.
VM_OUT     := bin/vm
VM_TIMEOUT ?= 2100
e2e-node-vm: kubelet cri-dockerd kubelet-dockershim
	rm -rf $(VM_OUT) && mkdir -p $(VM_OUT)
	$(MAKE) --no-print-directory deb DEBOUT=$(VM_OUT)/deb
	$(MAKE) --no-print-directory deb DEBOUT=$(VM_OUT)/deb-next BIN=$(VM_OUT)/dockercri-next VERSION=$(VERSION)-next DEBVERSION=$(DEBVERSION)+next
	mv $(VM_OUT)/deb/*.deb $(VM_OUT)/dockercri.deb && mv $(VM_OUT)/deb-next/*.deb $(VM_OUT)/dockercri-next.deb
	$(GO) test -c -tags vm -o $(VM_OUT)/vm.test ./test/vm
	VM_RUN='$(VM_RUN)' hack/vm/run.sh $(VM_TIMEOUT) $(VM_OUT)/vm.test $(VM_OUT)/dockercri.deb $(VM_OUT)/dockercri-next.deb $(KUBELET) $(CRI_DOCKERD) $(KUBELET_DOCKERSHIM)

# critest, crictl: of the cri-tools release hack/critest/go.mod pins, from the Go module proxy
# (critest is a Go test binary).
CRITEST         := bin/critest
CRICTL          := bin/crictl
CRITOOLS_VERSION = $(shell cd hack/critest && $(GO) list -m -f '{{.Version}}' sigs.k8s.io/cri-tools)
critest-bin:
	cd hack/critest && $(GO) test -c -o $(CURDIR)/$(CRITEST) sigs.k8s.io/cri-tools/cmd/critest
crictl:
	cd hack/critest && $(GO) build -o $(CURDIR)/$(CRICTL) -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$(CRITOOLS_VERSION)" sigs.k8s.io/cri-tools/cmd/crictl

# critest: the whole CRI validation suite on a dockerd of the test's own, with the suite's
# images built here and served under their real names (test/critest). The specs that
# cannot pass here, each for its reason (docs/conformance.md has the suite's result):
#   "public image with digest": pulls cri-tools' test image by the digest of its
#     published content, which cannot be fetched offline; an image built here has
#     another digest.
CRITEST_SKIP ?= public image with digest should be pulled and removed
critest: build critest-bin crictl
	$(ENGINE_ENV) DOCKERCRI_BIN=$(CURDIR)/$(BIN) CRITEST_BIN=$(CURDIR)/$(CRITEST) CRICTL_BIN=$(CURDIR)/$(CRICTL) \
		CRITEST_SKIP='$(CRITEST_SKIP)' CRITEST_FOCUS='$(CRITEST_FOCUS)' \
		$(GO) test -count=1 -tags critest -timeout 60m -v ./test/critest/...

# e2e-node: the Kubernetes node e2e suite (test/e2e_node of the release hack/kubelet pins,
# a test binary built from the Go module proxy with the ginkgo command that runs it in
# parallel, and agnhost for its images) against the real kubelet on dockercri, on a
# dockerd of the test's own (test/nodee2e): every NodeConformance spec, or those a
# regular expression (NODE_E2E_FOCUS) or a file of them (NODE_E2E_FOCUS_FILE; make test
# runs test/nodee2e/ci-focus.txt) selects. NODE_E2E_SKIP takes out what no node runs in a
# suite like this one (docs/conformance.md has the suite's result); the report goes to
# bin/e2e-node-report.
E2E_NODE  := bin/e2e_node.test
GINKGO    := bin/ginkgo
AGNHOST   := bin/agnhost
NODE_E2E_SKIP ?= \[Serial\]|\[Slow\]|\[Disruptive\]|\[Flaky\]|\[Feature:[^]]+\]|\[Benchmark\]
e2e-node-bin:
	cd hack/kubelet && $(GO) test -c -vet=off -o $(CURDIR)/$(E2E_NODE) k8s.io/kubernetes/test/e2e_node && \
		$(GO) build -o $(CURDIR)/$(GINKGO) github.com/onsi/ginkgo/v2/ginkgo && \
		CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -o $(CURDIR)/$(AGNHOST) k8s.io/kubernetes/test/images/agnhost
e2e-node: build kubelet e2e-node-bin
	$(ENGINE_ENV) DOCKERCRI_BIN=$(CURDIR)/$(BIN) KUBELET_BIN=$(CURDIR)/$(KUBELET) E2E_NODE_BIN=$(CURDIR)/$(E2E_NODE) \
		GINKGO_BIN=$(CURDIR)/$(GINKGO) AGNHOST_BIN=$(CURDIR)/$(AGNHOST) \
		NODE_E2E_FOCUS='$(NODE_E2E_FOCUS)' NODE_E2E_FOCUS_FILE='$(NODE_E2E_FOCUS_FILE)' NODE_E2E_SKIP='$(NODE_E2E_SKIP)' \
		NODE_E2E_PROCS='$(NODE_E2E_PROCS)' NODE_E2E_REPORT=$(CURDIR)/bin/e2e-node-report \
		$(GO) test -count=1 -tags nodee2e -timeout 150m -v ./test/nodee2e/...

# bench: pod start-up against the Docker floor; the kubelet's polling at 10, 50 and 200 running pods against the Docker calls
# cri-dockerd makes for the same answers (latency, dockercri's and dockerd's CPU per call); idle CPU, RSS; log throughput.
bench: build
	DOCKERCRI_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -tags bench -timeout 30m -run TestBench -v ./test/bench/ | grep -v '^=== RUN\|^--- PASS\|^PASS'

# install: the binary, the systemd units and the man pages under $(DESTDIR).
install: build
	install -D -m 0755 $(INSTALLBIN) $(DESTDIR)$(PREFIX)/bin/dockercri
	install -D -m 0644 packaging/systemd/dockercri.service $(DESTDIR)/lib/systemd/system/dockercri.service
	install -D -m 0644 packaging/systemd/dockercri.socket $(DESTDIR)/lib/systemd/system/dockercri.socket
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	$(GO) run -tags "$(TAGS) genman" -ldflags "$(LDFLAGS)" ./cmd/dockercri gen-man $(DESTDIR)$(PREFIX)/share/man/man8
	gzip -9nf $(DESTDIR)$(PREFIX)/share/man/man8/*.8

# deb: the same as a Debian package, with the default CNI directories and maintainer
# scripts that never stop pods (packaging/deb), for DEBARCH (this machine's by default;
# DEBARCH=arm64 on amd64 and the other way round give the other's package).
deb: build
	$(if $(filter-out $(BIN),$(DEBBIN)),GOOS=linux GOARCH=$(DEBGOARCH) CGO_ENABLED=0 $(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(DEBBIN) ./cmd/dockercri)
	rm -rf $(DEBROOT)
	$(MAKE) --no-print-directory install DESTDIR=$(DEBROOT) PREFIX=/usr INSTALLBIN=$(DEBBIN)
	install -d $(DEBROOT)/DEBIAN $(DEBROOT)/etc/cni/net.d $(DEBROOT)/opt/cni/bin $(DEBROOT)/var/lib/dockercri
	sed -e 's/@VERSION@/$(DEBVERSION)/' -e 's/@ARCH@/$(DEBARCH)/' packaging/deb/control.in > $(DEBROOT)/DEBIAN/control
	install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm $(DEBROOT)/DEBIAN/
	dpkg-deb --root-owner-group --build $(DEBROOT) $(DEBOUT)/dockercri_$(DEBVERSION)_$(DEBARCH).deb
	rm -rf $(DEBROOT)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
