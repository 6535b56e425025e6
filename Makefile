# dockercri: a CRI server for Docker Engine.
#   make run    build, make sure Docker runs, and serve on /run/dockercri.sock (ARGS= adds flags)
#   make test   unit tests, then the end-to-end suite against real Docker (as root)

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.gitCommit=$(COMMIT)
BIN     := bin/dockercri
ARGS    ?=

.PHONY: all build run test unit e2e bench vet fmt clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dockercri

run: build
	hack/ensure-docker.sh
	$(BIN) $(ARGS)

test: vet unit e2e

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...
	$(GO) vet -tags bench ./test/bench/...

unit:
	$(GO) test -count=1 ./...

e2e: build
	DOCKERCRI_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -tags e2e -timeout 30m ./test/e2e/...

# bench: the kubelet's polling with 50 running pods, against the Docker calls cri-dockerd
# makes for the same answers (latency and dockerd CPU per call, and the ratio).
bench: build
	DOCKERCRI_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -tags bench -timeout 30m -run TestBench -v ./test/bench/ | grep -v '^=== RUN\|^--- PASS\|^PASS'

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
