#!/usr/bin/env bash
# Builds a Docker Engine stack that Debian does not package, from the Go module proxy,
# into a cache outside the tree, and prints the directory of its programs (dockerd,
# docker-proxy, containerd, containerd-shim-runc-v2, runc). A stack already built is
# reused; new pinned versions make a new one.
#   hack/build-engine.sh 29   Docker Engine 29.8 (github.com/moby/moby/v2), containerd 2.3, runc 1.5 with seccomp
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

case "${1:-}" in
29)
  moby=v2.0.0-beta.24 docker_version=29.8.0
  containerd=v2.3.5
  runc=v1.5.1
  ;;
*)
  echo "usage: $0 29" >&2
  exit 2
  ;;
esac

cache=${XDG_CACHE_HOME:-$HOME/.cache}/dockercri/engine-$docker_version-containerd-$containerd-runc-$runc
if [[ -x $cache/bin/dockerd && -x $cache/bin/containerd && -x $cache/bin/runc ]]; then
  echo "$cache/bin"
  exit 0
fi

"$here/ensure-deps.sh" >&2 # runc's seccomp needs libseccomp-dev
echo "build-engine: building Docker $docker_version, containerd $containerd and runc $runc into $cache (a few minutes)" >&2
tmp=$(mktemp -d "$cache.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$cache")" && mktemp -d "$cache.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
export GOBIN=$tmp/bin GOFLAGS=-buildvcs=false
CGO_ENABLED=0 "$go" install -ldflags "-X github.com/moby/moby/v2/dockerversion.Version=$docker_version" \
  "github.com/moby/moby/v2/cmd/dockerd@$moby" "github.com/moby/moby/v2/cmd/docker-proxy@$moby" >&2
CGO_ENABLED=0 "$go" install -tags no_btrfs \
  "github.com/containerd/containerd/v2/cmd/containerd@$containerd" "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd" >&2
CGO_ENABLED=1 "$go" install -tags seccomp "github.com/opencontainers/runc@$runc" >&2
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "$cache/bin"
